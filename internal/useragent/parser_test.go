package useragent

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// realUAs are User-Agent strings captured from current browsers, crawlers
// and clients, with what Parse must report.
var realUAs = []struct {
	name string
	ua   string
	want Agent
}{
	{"Chrome Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		Agent{Browser: "Chrome", BrowserVersion: "124.0.0.0", OS: "Windows", OSVersion: "10.0", DeviceType: Desktop, Engine: "Blink", EngineVersion: "124.0.0.0", CPUArch: "amd64"}},
	{"Edge Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
		Agent{Browser: "Edge", BrowserVersion: "124.0.2478.80", OS: "Windows", OSVersion: "10.0", DeviceType: Desktop, Engine: "Blink", EngineVersion: "124.0.0.0", CPUArch: "amd64"}},
	{"Firefox Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
		Agent{Browser: "Firefox", BrowserVersion: "125.0", OS: "Windows", OSVersion: "10.0", DeviceType: Desktop, Engine: "Gecko", EngineVersion: "125.0", CPUArch: "amd64"}},
	{"Safari macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
		Agent{Browser: "Safari", BrowserVersion: "17.4.1", OS: "macOS", OSVersion: "10.15.7", DeviceType: Desktop, DeviceVendor: "Apple", DeviceModel: "Macintosh", Engine: "WebKit", EngineVersion: "605.1.15"}},
	{"Chrome macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		Agent{Browser: "Chrome", BrowserVersion: "124.0.0.0", OS: "macOS", OSVersion: "10.15.7", DeviceType: Desktop, DeviceVendor: "Apple", DeviceModel: "Macintosh", Engine: "Blink", EngineVersion: "124.0.0.0"}},
	{"Firefox macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
		Agent{Browser: "Firefox", BrowserVersion: "125.0", OS: "macOS", OSVersion: "14.4", DeviceType: Desktop, DeviceVendor: "Apple", DeviceModel: "Macintosh", Engine: "Gecko", EngineVersion: "125.0"}},
	{"Chrome Linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		Agent{Browser: "Chrome", BrowserVersion: "124.0.0.0", OS: "Linux", DeviceType: Desktop, Engine: "Blink", EngineVersion: "124.0.0.0", CPUArch: "amd64"}},
	{"Firefox Ubuntu", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
		Agent{Browser: "Firefox", BrowserVersion: "125.0", OS: "Linux", DeviceType: Desktop, Engine: "Gecko", EngineVersion: "125.0", CPUArch: "amd64"}},
	{"Safari iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
		Agent{Browser: "Safari", BrowserVersion: "17.4.1", OS: "iOS", OSVersion: "17.4.1", DeviceType: Mobile, DeviceVendor: "Apple", DeviceModel: "iPhone", Engine: "WebKit", EngineVersion: "605.1.15"}},
	{"Chrome iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
		Agent{Browser: "Chrome", BrowserVersion: "124.0.6367.88", OS: "iOS", OSVersion: "17.4", DeviceType: Mobile, DeviceVendor: "Apple", DeviceModel: "iPhone", Engine: "WebKit", EngineVersion: "605.1.15"}},
	{"Safari iPad", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
		Agent{Browser: "Safari", BrowserVersion: "17.4", OS: "iOS", OSVersion: "17.4", DeviceType: Tablet, DeviceVendor: "Apple", DeviceModel: "iPad", Engine: "WebKit", EngineVersion: "605.1.15"}},
	{"Chrome Android reduced", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
		Agent{Browser: "Chrome", BrowserVersion: "124.0.0.0", OS: "Android", OSVersion: "10", DeviceType: Mobile, Engine: "Blink", EngineVersion: "124.0.0.0"}},
	{"Samsung Internet", "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
		Agent{Browser: "Samsung Browser", BrowserVersion: "24.0", OS: "Android", OSVersion: "14", DeviceType: Mobile, DeviceVendor: "Samsung", DeviceModel: "SM-S918B", Engine: "Blink", EngineVersion: "117.0.0.0"}},
	{"Firefox Android", "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
		Agent{Browser: "Firefox", BrowserVersion: "125.0", OS: "Android", OSVersion: "14", DeviceType: Mobile, Engine: "Gecko", EngineVersion: "125.0"}},
	{"Chrome Android tablet", "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		Agent{Browser: "Chrome", BrowserVersion: "124.0.0.0", OS: "Android", OSVersion: "13", DeviceType: Tablet, DeviceVendor: "Samsung", DeviceModel: "SM-X710", Engine: "Blink", EngineVersion: "124.0.0.0"}},
	{"Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		Agent{Browser: "Googlebot", BrowserVersion: "2.1", DeviceType: Bot, IsBot: true}},
	{"Googlebot smartphone", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.201 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		Agent{Browser: "Googlebot", BrowserVersion: "2.1", OS: "Android", OSVersion: "6.0.1", DeviceType: Bot, DeviceVendor: "Google", DeviceModel: "Nexus 5X", Engine: "Blink", EngineVersion: "124.0.6367.201", IsBot: true}},
	{"Bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		Agent{Browser: "Bingbot", BrowserVersion: "2.0", DeviceType: Bot, IsBot: true}},
	{"curl", "curl/8.5.0", Agent{Browser: "curl", BrowserVersion: "8.5.0", DeviceType: Bot, IsBot: true}},
	{"Wget", "Wget/1.21.4", Agent{Browser: "Wget", BrowserVersion: "1.21.4", DeviceType: Bot, IsBot: true}},
	{"python-requests", "python-requests/2.31.0", Agent{Browser: "python-requests", BrowserVersion: "2.31.0", DeviceType: Bot, IsBot: true}},
	{"Go-http-client", "Go-http-client/1.1", Agent{Browser: "Go-http-client", BrowserVersion: "1.1", DeviceType: Bot, IsBot: true}},
	{"HeadlessChrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36",
		Agent{Browser: "Headless Chrome", BrowserVersion: "124.0.6367.60", OS: "Linux", DeviceType: Bot, Engine: "Blink", EngineVersion: "124.0.6367.60", CPUArch: "amd64", IsBot: true}},
	{"PhantomJS", "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
		Agent{Browser: "PhantomJS", BrowserVersion: "2.1.1", OS: "Linux", DeviceType: Bot, Engine: "WebKit", EngineVersion: "538.1", CPUArch: "amd64", IsBot: true}},
	{"okhttp is an app, not a bot", "okhttp/4.12.0", Agent{Browser: "okhttp", BrowserVersion: "4.12.0", DeviceType: Unknown}},
	{"empty", "", Agent{DeviceType: Bot, IsBot: true}},
	{"spaces", "   ", Agent{DeviceType: Bot, IsBot: true}},
}

func TestParse(t *testing.T) {
	p := New(64)
	for _, tt := range realUAs {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.UA = tt.ua
			for _, pass := range []string{"uncached", "cached"} {
				got := p.Parse(tt.ua)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s Parse(%q) mismatch (-want +got):\n%s", pass, tt.ua, diff)
				}
			}
		})
	}
}

func TestParseTruncates(t *testing.T) {
	long := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 " + strings.Repeat("x", 10_000)
	got := New(8).Parse(long)
	if len(got.UA) != MaxLength || got.UA != long[:MaxLength] {
		t.Errorf("len(UA) = %d, want %d", len(got.UA), MaxLength)
	}
	if got.Browser != "Chrome" || got.OS != "Windows" {
		t.Errorf("Parse(long) = %+v, want Chrome on Windows", got)
	}
}

func TestCacheBounded(t *testing.T) {
	tests := []struct {
		size, inserts, want int // want: the most entries the cache may hold
	}{
		{0, 50, 0},
		{-1, 50, 0},
		{1, 50, 1},
		{10, 50, 10},
		{100, 50, 50},
		{1000, 5000, 1000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			p := New(tt.size)
			for i := range tt.inserts {
				p.Parse(fmt.Sprintf("curl/%d", i))
			}
			// The cache is sharded by a per-process random hash, so a
			// shard can fill up before the whole cache does: the size is
			// a bound, and a cache with room keeps most of what it got.
			got := p.Len()
			if got > tt.want {
				t.Errorf("Len() = %d, want at most %d", got, tt.want)
			}
			if got < tt.want/2 {
				t.Errorf("Len() = %d, want at least %d", got, tt.want/2)
			}
		})
	}
}

func TestCacheLRU(t *testing.T) {
	p := New(2) // two shards of one entry; use strings that share a shard
	s := &p.shards[0]
	var same []string
	for i := 0; len(same) < 3; i++ {
		ua := fmt.Sprintf("curl/%d", i)
		if &p.shards[hashShard(p, ua)] == s {
			same = append(same, ua)
		}
	}
	p.Parse(same[0])
	p.Parse(same[1]) // evicts same[0]
	if _, ok := s.items[same[0]]; ok {
		t.Errorf("%s still cached after eviction", same[0])
	}
	if _, ok := s.items[same[1]]; !ok {
		t.Errorf("%s not cached", same[1])
	}
}

func hashShard(p *Parser, ua string) int {
	return int(maphashString(p, ua) % uint64(len(p.shards)))
}

func TestConcurrentParse(t *testing.T) {
	p := New(8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				tt := realUAs[(g+i)%len(realUAs)]
				if got := p.Parse(tt.ua); got.Browser != tt.want.Browser {
					t.Errorf("Parse(%q).Browser = %q, want %q", tt.ua, got.Browser, tt.want.Browser)
					return
				}
			}
		})
	}
	wg.Wait()
	if p.Len() > 8 {
		t.Errorf("Len() = %d, want <= 8", p.Len())
	}
}

func TestParsedUserAgent(t *testing.T) {
	tests := []struct {
		name string
		ua   string
		want string
	}{
		{"iPhone", realUAs[8].ua, `{"ua":` + quote(realUAs[8].ua) + `,"browser":{"name":"Safari","version":"17.4.1","major":"17"},"device":{"model":"iPhone","type":"mobile","vendor":"Apple"},"engine":{"name":"WebKit","version":"605.1.15"},"os":{"name":"iOS","version":"17.4.1"}}`},
		{"Windows desktop has no device", realUAs[0].ua, `{"ua":` + quote(realUAs[0].ua) + `,"browser":{"name":"Chrome","version":"124.0.0.0","major":"124"},"engine":{"name":"Blink","version":"124.0.0.0"},"os":{"name":"Windows","version":"10.0"},"cpu":{"architecture":"amd64"}}`},
		{"empty", "", `{"ua":""}`},
	}
	p := New(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(p.Parse(tt.ua).ParsedUserAgent())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(b)); diff != "" {
				t.Errorf("JSON mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
