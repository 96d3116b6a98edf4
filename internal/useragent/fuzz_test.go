package useragent

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, tt := range realUAs {
		f.Add(tt.ua)
	}
	f.Add("Mozilla/5.0 (")
	f.Add("((((((((((")
	f.Add("Android ; ; ; Mobile Build/")
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS _ like Mac OS X)")
	f.Add("\xff\xfe\x00 bot/ http://")
	f.Add(strings.Repeat("a/1 ", 2000))
	p := New(16)
	f.Fuzz(func(t *testing.T, ua string) {
		a := p.Parse(ua)
		if len(a.UA) > MaxLength {
			t.Errorf("len(UA) = %d > MaxLength", len(a.UA))
		}
		switch a.DeviceType {
		case Desktop, Mobile, Tablet, Bot, Unknown:
		default:
			t.Errorf("DeviceType = %q", a.DeviceType)
		}
		if a.IsBot != (a.DeviceType == Bot) {
			t.Errorf("IsBot = %v but DeviceType = %q", a.IsBot, a.DeviceType)
		}
		_ = a.ParsedUserAgent()
		_ = utf8.ValidString(a.Browser)
	})
}
