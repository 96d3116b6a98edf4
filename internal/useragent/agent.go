package useragent

// Device types reported in [Agent.DeviceType].
const (
	Desktop = "desktop"
	Mobile  = "mobile"
	Tablet  = "tablet"
	Bot     = "bot"
	Unknown = "unknown"
)

// Agent is a parsed User-Agent. Fields the string does not reveal are empty.
type Agent struct {
	// UA is the User-Agent that was parsed, cut to MaxLength bytes.
	UA string
	// Browser is the browser or client name, for example "Chrome", "Edge",
	// "Firefox", "Safari", "Samsung Browser", "Opera", "Headless Chrome",
	// "Googlebot", "curl" or "python-requests".
	Browser string
	// BrowserVersion is its full version, for example "124.0.6367.60".
	BrowserVersion string
	// OS is the operating system: "Windows", "macOS", "iOS", "Android",
	// "Linux", "ChromeOS", "FreeBSD", "Windows Phone", ...
	OS string
	// OSVersion is its version as the string states it, for example "10.0"
	// for Windows NT 10.0 (Windows 10 and 11 send the same), "17.4.1" for
	// iOS, "10.15.7" for macOS (frozen by Safari and Chrome).
	OSVersion string
	// DeviceType is one of Desktop, Mobile, Tablet, Bot or Unknown.
	DeviceType string
	// DeviceVendor is the maker when the string names a known one, for
	// example "Apple", "Samsung", "Google".
	DeviceVendor string
	// DeviceModel is the model, for example "iPhone", "iPad", "Macintosh",
	// "SM-S918B". Chrome's reduced Android UA sends the placeholder "K",
	// which is reported as empty.
	DeviceModel string
	// Engine is the rendering engine: "Blink", "WebKit", "Gecko",
	// "Trident", "EdgeHTML" or "Presto".
	Engine string
	// EngineVersion is its version.
	EngineVersion string
	// CPUArch is the CPU architecture in ua-parser-js's vocabulary:
	// "amd64", "ia32", "arm64", "armhf" or "arm".
	CPUArch string
	// IsBot is true for crawlers, HTTP libraries, headless browsers and an
	// empty User-Agent; see the package documentation.
	IsBot bool
}

// ParsedUserAgent is the parsedUserAgent object that Authsignal reports on a
// passkey authenticator (webauthnCredential.parsedUserAgent in the Server
// and Client APIs). Its fields follow ua-parser-js, whose output Authsignal
// passes through; empty fields and empty objects are omitted, ua is always
// present.
type ParsedUserAgent struct {
	UA      string    `json:"ua"`
	Browser UABrowser `json:"browser,omitzero"`
	Device  UADevice  `json:"device,omitzero"`
	Engine  UAEngine  `json:"engine,omitzero"`
	OS      UAOS      `json:"os,omitzero"`
	CPU     UACPU     `json:"cpu,omitzero"`
}

// UABrowser is parsedUserAgent.browser.
type UABrowser struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// Major is the version up to the first dot.
	Major string `json:"major,omitempty"`
}

// UADevice is parsedUserAgent.device. Type is "mobile" or "tablet" and
// omitted for desktops and bots, as ua-parser-js does.
type UADevice struct {
	Model  string `json:"model,omitempty"`
	Type   string `json:"type,omitempty"`
	Vendor string `json:"vendor,omitempty"`
}

// UAEngine is parsedUserAgent.engine.
type UAEngine struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// UAOS is parsedUserAgent.os.
type UAOS struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// UACPU is parsedUserAgent.cpu.
type UACPU struct {
	Architecture string `json:"architecture,omitempty"`
}

// ParsedUserAgent returns a in Authsignal's parsedUserAgent shape.
func (a Agent) ParsedUserAgent() ParsedUserAgent {
	p := ParsedUserAgent{
		UA:      a.UA,
		Browser: UABrowser{Name: a.Browser, Version: a.BrowserVersion, Major: major(a.BrowserVersion)},
		Device:  UADevice{Model: a.DeviceModel, Vendor: a.DeviceVendor},
		Engine:  UAEngine{Name: a.Engine, Version: a.EngineVersion},
		OS:      UAOS{Name: a.OS, Version: a.OSVersion},
		CPU:     UACPU{Architecture: a.CPUArch},
	}
	if a.DeviceType == Mobile || a.DeviceType == Tablet {
		p.Device.Type = a.DeviceType
	}
	return p
}

func major(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			return v[:i]
		}
	}
	return v
}
