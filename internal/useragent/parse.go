package useragent

import (
	"strings"

	mua "github.com/mileusna/useragent"
)

// MaxLength is the longest User-Agent parsed; longer strings are cut to
// their first MaxLength bytes. Real browsers send under 512 bytes; the
// bound keeps parsing time and cache memory bounded for hostile input.
const MaxLength = 4096

type clientTok struct {
	token, name string
	// override replaces the browser the underlying parser found: headless
	// browsers otherwise pass for the browser they embed.
	override bool
}

// clientTokens are products that identify HTTP libraries, command-line
// clients and automation browsers, matched case-insensitively as a prefix of
// the User-Agent or of any product in it. The name is what Agent.Browser
// reports when the underlying parser found none (always, for override).
var clientTokens = [...]clientTok{
	{token: "curl/", name: "curl"},
	{token: "wget/", name: "Wget"},
	{token: "python-requests/", name: "python-requests"},
	{token: "python-urllib/", name: "Python-urllib"},
	{token: "python-httpx/", name: "python-httpx"},
	{token: "python/", name: "Python"},
	{token: "aiohttp/", name: "aiohttp"},
	{token: "go-http-client/", name: "Go-http-client"},
	{token: "java/", name: "Java"},
	{token: "java-http-client/", name: "Java-http-client"},
	{token: "apache-httpclient/", name: "Apache-HttpClient"},
	{token: "libwww-perl/", name: "libwww-perl"},
	{token: "scrapy/", name: "Scrapy"},
	{token: "axios/", name: "axios"},
	{token: "node-fetch/", name: "node-fetch"},
	{token: "undici", name: "undici"},
	{token: "httpie/", name: "HTTPie"},
	{token: "postmanruntime/", name: "PostmanRuntime"},
	{token: "insomnia/", name: "Insomnia"},
	{token: "headlesschrome/", name: "Headless Chrome", override: true},
	{token: "phantomjs/", name: "PhantomJS", override: true},
	{token: "slimerjs/", name: "SlimerJS", override: true},
}

// parse parses ua, which is already cut to MaxLength. It never panics: the
// underlying parser is called under a recover so that a bug there costs one
// request an "unknown" result rather than the server.
func parse(ua string) (a Agent) {
	a.UA = ua
	if strings.TrimSpace(ua) == "" {
		a.IsBot, a.DeviceType = true, Bot
		return a
	}
	var m mua.UserAgent
	func() {
		defer func() {
			if recover() != nil {
				m = mua.UserAgent{}
			}
		}()
		m = mua.Parse(ua)
	}()
	a.Browser, a.BrowserVersion = m.Name, m.Version
	a.OS, a.OSVersion = m.OS, m.OSVersion
	a.IsBot = m.Bot
	lower := strings.ToLower(ua)

	if c, ok := clientToken(lower); ok {
		a.IsBot = true
		if a.Browser == "" || c.override {
			a.Browser = c.name
			a.BrowserVersion = productVersion(lower, c.token)
		}
	}
	if a.OS == mua.Linux && looksLikeArch(a.OSVersion) {
		// mileusna reports "Linux x86_64" as OS version "x86_64".
		a.OSVersion = ""
	}

	a.DeviceModel = m.Device
	switch {
	case a.IsBot:
		a.DeviceType = Bot
	case m.Tablet:
		a.DeviceType = Tablet
	case a.OS == mua.Android && !strings.Contains(ua, "Mobile"):
		// Android tablets omit "Mobile"; phones send it
		// (developer.chrome.com/docs/multidevice/user-agent).
		a.DeviceType = Tablet
	case m.Mobile:
		a.DeviceType = Mobile
	case m.Desktop:
		a.DeviceType = Desktop
	default:
		a.DeviceType = Unknown
	}
	if a.DeviceModel == "K" {
		// Chrome's reduced User-Agent placeholder, not a model.
		a.DeviceModel = ""
	}
	if a.OS == mua.MacOS && a.DeviceModel == "" {
		a.DeviceModel = "Macintosh"
	}
	a.DeviceVendor = vendor(a.DeviceModel, lower)
	a.Engine, a.EngineVersion = engine(ua, a.OS)
	a.CPUArch = cpuArch(lower)
	return a
}

// clientToken finds a clientTokens entry at the start of the string or of
// any product in it.
func clientToken(lower string) (clientTok, bool) {
	for _, c := range clientTokens {
		for off := 0; off < len(lower); {
			i := strings.Index(lower[off:], c.token)
			if i < 0 {
				break
			}
			i += off
			if i == 0 || strings.IndexByte(" ;(", lower[i-1]) >= 0 {
				return c, true
			}
			off = i + 1
		}
	}
	return clientTok{}, false
}

func looksLikeArch(s string) bool {
	switch strings.ToLower(s) {
	case "x86_64", "i686", "i386", "aarch64", "armv7l", "armv8l", "arm64", "amd64", "x86":
		return true
	}
	return false
}

// vendors maps model prefixes (lower case) to makers.
var vendors = [...]struct{ prefix, vendor string }{
	{"iphone", "Apple"}, {"ipad", "Apple"}, {"ipod", "Apple"}, {"macintosh", "Apple"},
	{"sm-", "Samsung"}, {"gt-", "Samsung"}, {"samsung", "Samsung"},
	{"pixel", "Google"}, {"nexus", "Google"},
	{"huawei", "Huawei"}, {"honor", "Honor"},
	{"redmi", "Xiaomi"}, {"poco", "Xiaomi"}, {"xiaomi", "Xiaomi"}, {"mi ", "Xiaomi"},
	{"oneplus", "OnePlus"}, {"moto", "Motorola"}, {"lm-", "LG"}, {"lg-", "LG"},
	{"cph", "OPPO"}, {"vivo", "Vivo"}, {"nokia", "Nokia"},
}

func vendor(model, lowerUA string) string {
	m := strings.ToLower(model)
	for _, v := range vendors {
		if strings.HasPrefix(m, v.prefix) {
			return v.vendor
		}
	}
	if model != "" && strings.Contains(lowerUA, "samsungbrowser/") {
		return "Samsung"
	}
	return ""
}

// engine derives the rendering engine the way ua-parser-js names it.
func engine(ua, os string) (name, version string) {
	switch {
	case os == mua.IOS && strings.Contains(ua, "AppleWebKit/"):
		// Every iOS browser must use WebKit.
		return "WebKit", productVersion(ua, "AppleWebKit/")
	case strings.Contains(ua, "Edge/"):
		return "EdgeHTML", productVersion(ua, "Edge/")
	case strings.Contains(ua, "Chrome/"):
		return "Blink", productVersion(ua, "Chrome/")
	case strings.Contains(ua, "Chromium/"):
		return "Blink", productVersion(ua, "Chromium/")
	case strings.Contains(ua, "Trident/"):
		return "Trident", productVersion(ua, "Trident/")
	case strings.Contains(ua, "Presto/"):
		return "Presto", productVersion(ua, "Presto/")
	case strings.Contains(ua, "Gecko/") && strings.Contains(ua, "rv:"):
		return "Gecko", productVersion(ua, "rv:")
	case strings.Contains(ua, "AppleWebKit/"):
		return "WebKit", productVersion(ua, "AppleWebKit/")
	}
	return "", ""
}

// productVersion returns the version after the first occurrence of token:
// digits and dots.
func productVersion(ua, token string) string {
	i := strings.Index(ua, token)
	if i < 0 {
		return ""
	}
	v := ua[i+len(token):]
	n := 0
	for n < len(v) && (v[n] >= '0' && v[n] <= '9' || v[n] == '.') {
		n++
	}
	return strings.TrimRight(v[:n], ".")
}

// cpuArch maps architecture tokens to ua-parser-js's names.
func cpuArch(lower string) string {
	switch {
	case strings.Contains(lower, "x86_64"), strings.Contains(lower, "win64"),
		strings.Contains(lower, "wow64"), strings.Contains(lower, "amd64"), strings.Contains(lower, "x64;"):
		return "amd64"
	case strings.Contains(lower, "aarch64"), strings.Contains(lower, "arm64"):
		return "arm64"
	case strings.Contains(lower, "armv7l"), strings.Contains(lower, "armv8l"):
		return "armhf"
	case strings.Contains(lower, "i686"), strings.Contains(lower, "i386"), strings.Contains(lower, "x86;"):
		return "ia32"
	}
	return ""
}
