package ipintel

import (
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// The record types mirror MaxMind's published layouts, reduced to the
// fields Vigil reads; the decoder skips the rest. Names are read through a
// struct with only "en" so that no map is built per look-up.

// cityRecord is decoded by hand (UnmarshalMaxMindDBCursor) rather than by
// reflection: it reads about ten of the sixty-odd values of a GeoLite2-City
// record and skips the rest without building maps or slices.
type cityRecord struct {
	City, CountryCode, RegisteredCountryCode string
	SubdivisionCode, SubdivisionName         string
	Latitude, Longitude                      optFloat
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler for
// MaxMind's City layout.
func (r *cityRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachKey(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		switch string(key) {
		case "city":
			return eachKey(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
				if string(key) == "names" {
					return readEnglish(v, &r.City)
				}
				return v.Skip()
			})
		case "country":
			return readISOCode(v, &r.CountryCode)
		case "registered_country":
			return readISOCode(v, &r.RegisteredCountryCode)
		case "location":
			return eachKey(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
				switch string(key) {
				case "latitude":
					return r.Latitude.UnmarshalMaxMindDBCursor(v)
				case "longitude":
					return r.Longitude.UnmarshalMaxMindDBCursor(v)
				}
				return v.Skip()
			})
		case "subdivisions":
			return r.readSubdivisions(v)
		}
		return v.Skip()
	})
}

// readSubdivisions reads the first (largest) subdivision and skips the rest.
func (r *cityRecord) readSubdivisions(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	s, err := c.Slice()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[[]any](err)
	}
	var next mmdbdata.Cursor
	for {
		i, v, ok := s.Next(next)
		if !ok {
			break
		}
		if i > 0 {
			next, err = v.Skip()
		} else {
			next, err = eachKey(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
				switch string(key) {
				case "iso_code":
					return readString(v, &r.SubdivisionCode)
				case "names":
					return readEnglish(v, &r.SubdivisionName)
				}
				return v.Skip()
			})
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return s.End()
}

// eachKey calls f for every entry of the map at c; f must consume the value
// and return its successor.
func eachKey(c mmdbdata.Cursor, f func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error)) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[map[string]any](err)
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		if next, err = f(key, v); err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

func readString(c mmdbdata.Cursor, dst *string) (mmdbdata.Cursor, error) {
	s, next, err := c.ReadString()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[string](err)
	}
	*dst = s
	return next, nil
}

// readEnglish reads names.en from a names map.
func readEnglish(c mmdbdata.Cursor, dst *string) (mmdbdata.Cursor, error) {
	return eachKey(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		if string(key) == "en" {
			return readString(v, dst)
		}
		return v.Skip()
	})
}

// readISOCode reads iso_code from a country map.
func readISOCode(c mmdbdata.Cursor, dst *string) (mmdbdata.Cursor, error) {
	return eachKey(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		if string(key) == "iso_code" {
			return readString(v, dst)
		}
		return v.Skip()
	})
}

func (r *cityRecord) fill(info *Info) {
	info.CountryCode = r.CountryCode
	if info.CountryCode == "" {
		info.CountryCode = r.RegisteredCountryCode
	}
	info.City = r.City
	info.Region = r.SubdivisionName
	if r.SubdivisionCode != "" && info.CountryCode != "" {
		info.RegionCode = info.CountryCode + "-" + r.SubdivisionCode
	}
	if r.Latitude.ok && r.Longitude.ok {
		info.Latitude = r.Latitude.v
		info.Longitude = r.Longitude.v
		info.HasLocation = true
	}
}

type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

type anonRecord struct {
	VPN              bool `maxminddb:"is_anonymous_vpn"`
	Tor              bool `maxminddb:"is_tor_exit_node"`
	PublicProxy      bool `maxminddb:"is_public_proxy"`
	ResidentialProxy bool `maxminddb:"is_residential_proxy"`
	Hosting          bool `maxminddb:"is_hosting_provider"`
}

func (r *anonRecord) reasons() Reasons {
	var out Reasons
	if r.VPN {
		out |= ReasonVPN
	}
	if r.Tor {
		out |= ReasonTor
	}
	if r.PublicProxy || r.ResidentialProxy {
		out |= ReasonProxy
	}
	if r.Hosting {
		out |= ReasonHosting
	}
	return out
}

// optFloat is a float that records whether the database had it, so that a
// missing location is not mistaken for 0°N 0°E.
type optFloat struct {
	v  float64
	ok bool
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler; it accepts
// both MMDB float kinds.
func (f *optFloat) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	v, next, err := c.ReadFloat()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[float64](err)
	}
	f.v, f.ok = v, true
	return next, nil
}
