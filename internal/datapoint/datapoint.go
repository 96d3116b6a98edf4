package datapoint

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/ipintel"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/useragent"
)

// Defaults of Settings.
const (
	DefaultImpossibleTravelKMH = 1000
	DefaultAtypicalTravelKM    = 500
	// MinTravelKM is the distance under which travel is never impossible:
	// GeoIP locations are approximate to tens of kilometres, so two nearby
	// addresses seconds apart must not look like a supersonic flight.
	MinTravelKM = 100
)

// Settings tune the travel data points.
type Settings struct {
	// ImpossibleTravelKMH is the speed from the last verified location
	// above which ip.impossibleTravel is true; 0 means
	// DefaultImpossibleTravelKMH.
	ImpossibleTravelKMH float64
	// AtypicalTravelKM is how far from every recently verified location
	// the IP must be for ip.atypicalTravel; 0 means DefaultAtypicalTravelKM.
	AtypicalTravelKM float64
}

// Sources are what data points are computed from besides the track and the
// user's history. The zero Sources is valid: no GeoIP or anonymity source
// (those data points are then unavailable or false) and a private user-agent
// parser. Sources are safe for concurrent use.
type Sources struct {
	IP       *ipintel.DB       // nil: no IP intelligence
	UA       *useragent.Parser // nil: a parser without a cache
	Settings Settings
}

// Input is one track as the data points see it.
type Input struct {
	Track          *vigil.TrackInput
	Authenticators []*vigil.Authenticator
	// State is the user's history with the parts the plan needs; nil is
	// an empty history.
	State *vigil.RiskState
	Now   time.Time
	// TimeZone is the tenant's, for time.*; nil is UTC.
	TimeZone *time.Location
	// Recorded, when not nil, replays a stored action: a data point
	// recorded at track time is read from it (a recorded null is
	// unavailable); one not recorded is recomputed from the input if it
	// needs no history, and is otherwise missing (see Points.Missing).
	Recorded Recorded
}

// Recorded are data point values stored with an action (rules.Points).
type Recorded interface {
	Lookup(path string) (jsonlogic.Value, bool)
}

// resolver computes one data point. ok false means unavailable (a missing
// variable to JSONLogic).
type resolver func(p *Points) (v jsonlogic.Value, ok bool)

// Plan maps the variables of a compiled rule set (its variable table, by
// index) to data points. It is immutable and safe for concurrent use.
type Plan struct {
	names     []string
	resolvers []resolver // by table index; nil: not a data point
	needs     []vigil.RiskNeeds
	need      vigil.RiskNeeds
	unknown   []string
}

// NewPlan returns the plan for the variables names (a rule set's variable
// table, in index order).
func NewPlan(names []string) *Plan {
	pl := &Plan{names: slices.Clone(names), resolvers: make([]resolver, len(names)), needs: make([]vigil.RiskNeeds, len(names))}
	for i, n := range names {
		r, need, ok := resolve(n)
		if !ok {
			pl.unknown = append(pl.unknown, n)
			continue
		}
		pl.resolvers[i] = r
		pl.needs[i] = need
		pl.need |= need
	}
	return pl
}

// Need is the union of the history the plan's data points read.
func (pl *Plan) Need() vigil.RiskNeeds {
	if pl == nil {
		return 0
	}
	return pl.need
}

// Unknown lists the plan's variables that are not data points: they are
// always missing.
func (pl *Plan) Unknown() []string {
	if pl == nil {
		return nil
	}
	return slices.Clone(pl.unknown)
}

// Points are the data points of one track: a jsonlogic.Data that computes
// each variable at most once, when first read. Not safe for concurrent use.
type Points struct {
	plan *Plan
	src  *Sources
	in   *Input
	st   *vigil.RiskState

	vals []jsonlogic.Value
	done []uint8 // 0: not computed; 1: available; 2: unavailable

	ipDone bool
	ipAddr netip.Addr
	ipInfo ipintel.Info

	uaDone bool
	ua     useragent.Agent

	customDone bool
	custom     jsonlogic.Value

	userCustomDone bool
	userCustom     jsonlogic.Value

	missing []string
}

var emptyState = &vigil.RiskState{}

var defaultParser = useragent.New(0)

// Points returns the data points of in under pl. A nil plan computes
// nothing through Var but still answers Lookup.
func (s *Sources) Points(pl *Plan, in *Input) *Points {
	if s == nil {
		s = &Sources{}
	}
	if pl == nil {
		pl = &Plan{}
	}
	p := &Points{plan: pl, src: s, in: in, st: in.State}
	if p.st == nil {
		p.st = emptyState
	}
	p.vals = make([]jsonlogic.Value, len(pl.names))
	p.done = make([]uint8, len(pl.names))
	return p
}

// Var returns variable i of the plan's table, computing it the first time.
func (p *Points) Var(i int) (jsonlogic.Value, bool) {
	if i < 0 || i >= len(p.done) {
		return jsonlogic.Null(), false
	}
	switch p.done[i] {
	case 1:
		return p.vals[i], true
	case 2:
		return jsonlogic.Null(), false
	}
	r := p.plan.resolvers[i]
	if r == nil {
		p.done[i] = 2
		return jsonlogic.Null(), false
	}
	var v jsonlogic.Value
	var ok bool
	if p.in.Recorded != nil {
		v, ok = p.replay(p.plan.names[i], r, p.plan.needs[i])
	} else {
		v, ok = r(p)
	}
	if ok {
		p.vals[i], p.done[i] = v, 1
	} else {
		p.done[i] = 2
	}
	return v, ok
}

// Lookup computes a data point by name (a path a rule builds at run time).
func (p *Points) Lookup(path string) (jsonlogic.Value, bool) {
	if i := slices.Index(p.plan.names, path); i >= 0 {
		return p.Var(i)
	}
	r, need, ok := resolve(path)
	if ok && p.in.Recorded != nil {
		return p.replay(path, r, need)
	}
	if !ok || need&^p.plan.need != 0 {
		// A path whose history the plan did not load is unavailable
		// rather than computed from an empty history.
		return jsonlogic.Null(), false
	}
	return r(p)
}

// replay reads a data point of a stored action: as recorded, else
// recomputed when it needs no history, else missing.
func (p *Points) replay(name string, r resolver, need vigil.RiskNeeds) (jsonlogic.Value, bool) {
	if v, ok := p.in.Recorded.Lookup(name); ok {
		return v, !v.IsNull()
	}
	if need == 0 {
		return r(p)
	}
	if !slices.Contains(p.missing, name) {
		p.missing = append(p.missing, name)
	}
	return jsonlogic.Null(), false
}

// Missing lists the data points read during a replay (Input.Recorded) that
// were neither recorded nor computable without history.
func (p *Points) Missing() []string { return p.missing }

// Location returns where the track's IP address is, if the GeoIP database
// knows.
func (p *Points) Location() *vigil.GeoPoint {
	info := p.ip()
	if !info.HasLocation {
		return nil
	}
	return &vigil.GeoPoint{Latitude: info.Latitude, Longitude: info.Longitude}
}

func (p *Points) ip() *ipintel.Info {
	if !p.ipDone {
		p.ipDone = true
		if a, err := netip.ParseAddr(p.in.Track.Context.IPAddress); err == nil {
			p.ipAddr = a.Unmap()
			if p.src.IP != nil {
				p.ipInfo = p.src.IP.Lookup(p.ipAddr)
			} else {
				p.ipInfo = ipintel.Info{Valid: true}
			}
		}
	}
	return &p.ipInfo
}

func (p *Points) agent() *useragent.Agent {
	if !p.uaDone {
		p.uaDone = true
		parser := p.src.UA
		if parser == nil {
			parser = defaultParser
		}
		p.ua = parser.Parse(p.in.Track.Context.UserAgent)
	}
	return &p.ua
}

func (p *Points) customValue() jsonlogic.Value {
	if !p.customDone {
		p.customDone = true
		p.custom = jsonlogic.Null()
		if raw := p.in.Track.Context.Custom; len(raw) > 0 {
			if v, err := jsonlogic.ParseJSON(raw); err == nil {
				p.custom = v
			}
		}
	}
	return p.custom
}

func (p *Points) userCustomValue() jsonlogic.Value {
	if !p.userCustomDone {
		p.userCustomDone = true
		p.userCustom = jsonlogic.Null()
		if u := p.st.User; u != nil && u.Custom != nil {
			if v, err := jsonlogic.FromGo(u.Custom); err == nil {
				p.userCustom = v
			}
		}
	}
	return p.userCustom
}

// travel returns the speed from the last verified location and the
// distance to the nearest recently verified location, when both locations
// are known.
func (p *Points) travel() (speedKMH, nearestKM float64, ok bool) {
	info := p.ip()
	locs := p.st.VerifiedLocations
	if !info.HasLocation || len(locs) == 0 {
		return 0, 0, false
	}
	last := locs[0]
	d := ipintel.Distance(last.Latitude, last.Longitude, info.Latitude, info.Longitude)
	speedKMH = 0
	if d >= MinTravelKM {
		speedKMH = ipintel.SpeedKMH(d, p.in.Now.Sub(last.At))
	}
	nearestKM = math.Inf(1)
	for _, l := range locs {
		nearestKM = math.Min(nearestKM, ipintel.Distance(l.Latitude, l.Longitude, info.Latitude, info.Longitude))
	}
	return speedKMH, nearestKM, true
}

func (s Settings) impossibleKMH() float64 {
	if s.ImpossibleTravelKMH > 0 {
		return s.ImpossibleTravelKMH
	}
	return DefaultImpossibleTravelKMH
}

func (s Settings) atypicalKM() float64 {
	if s.AtypicalTravelKM > 0 {
		return s.AtypicalTravelKM
	}
	return DefaultAtypicalTravelKM
}

func (p *Points) email() string {
	if u := p.st.User; u != nil && u.Email != "" {
		return u.Email
	}
	return p.in.Track.Context.Email
}

func (p *Points) phone() string {
	if u := p.st.User; u != nil && u.PhoneNumber != "" {
		return u.PhoneNumber
	}
	return p.in.Track.Context.PhoneNumber
}

func (p *Points) localNow() time.Time {
	if p.in.TimeZone != nil {
		return p.in.Now.In(p.in.TimeZone)
	}
	return p.in.Now.UTC()
}

// resolve returns the resolver of a variable name and the history it
// needs: a catalogue data point, a path under custom. or user.custom., or
// a prefix of catalogue names (an object of every data point under it).
func resolve(name string) (resolver, vigil.RiskNeeds, bool) {
	if d, ok := byName[name]; ok {
		return d.fn, d.Need, true
	}
	if name == "custom" || strings.HasPrefix(name, "custom.") {
		rest := strings.TrimPrefix(strings.TrimPrefix(name, "custom"), ".")
		return func(p *Points) (jsonlogic.Value, bool) { return walk(p.customValue(), rest) }, 0, true
	}
	if name == "user.custom" || strings.HasPrefix(name, "user.custom.") {
		rest := strings.TrimPrefix(strings.TrimPrefix(name, "user.custom"), ".")
		return func(p *Points) (jsonlogic.Value, bool) { return walk(p.userCustomValue(), rest) }, vigil.NeedUser, true
	}
	// A prefix of catalogue names: {"var":"ip.location"} is an object.
	var under []*Def
	for i := range catalogue {
		if strings.HasPrefix(catalogue[i].Name, name+".") {
			under = append(under, &catalogue[i])
		}
	}
	if len(under) == 0 {
		return nil, 0, false
	}
	var need vigil.RiskNeeds
	for _, d := range under {
		need |= d.Need
	}
	return func(p *Points) (jsonlogic.Value, bool) {
		root := map[string]any{}
		for _, d := range under {
			v, ok := d.fn(p)
			if !ok {
				v = jsonlogic.Null()
			}
			setPath(root, strings.Split(strings.TrimPrefix(d.Name, name+"."), "."), v)
		}
		return toValue(root), true
	}, need, true
}

// walk looks up a dotted path in v ("" is v itself).
func walk(v jsonlogic.Value, path string) (jsonlogic.Value, bool) {
	if path == "" {
		return v, !v.IsNull()
	}
	return (&jsonlogic.ValueData{Root: v}).Lookup(path)
}

func setPath(m map[string]any, path []string, v jsonlogic.Value) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func toValue(m map[string]any) jsonlogic.Value {
	out := make(map[string]jsonlogic.Value, len(m))
	for k, x := range m {
		switch x := x.(type) {
		case map[string]any:
			out[k] = toValue(x)
		case jsonlogic.Value:
			out[k] = x
		}
	}
	return jsonlogic.Object(out)
}
