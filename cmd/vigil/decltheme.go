package main

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/vigil-auth/vigil"
	"gopkg.in/yaml.v3"
)

// theme parses a tenant's theme: block: the Management API's Theme
// (contract §4.3), with the same field names as its JSON. Every key is
// checked against vigil.Theme and every value against its type, then the
// whole theme with vigil.CheckTheme, each problem naming its path and
// line. A key without a value is an error rather than an unset field:
// in YAML an unquoted #1a73e8 is a comment, so a hex colour must be
// quoted.
func (p *declParser) theme(path string, n *yaml.Node) *vigil.Theme {
	errs := len(p.errs)
	nodes := map[string]*yaml.Node{} // by JSON path, for CheckTheme's errors
	if !p.themeObject(path, "", n, reflect.TypeFor[vigil.Theme](), nodes) || len(p.errs) > errs {
		return nil
	}
	val, err := jsonValue(n)
	if err != nil {
		p.failf(path, n, "%v", err)
		return nil
	}
	b, err := json.Marshal(val)
	if err != nil {
		p.failf(path, n, "cannot be read as JSON: %v", err)
		return nil
	}
	t := &vigil.Theme{}
	if err := json.Unmarshal(b, t); err != nil {
		p.failf(path, n, "cannot be read as a theme: %v", err)
		return nil
	}
	if err := vigil.CheckTheme(t); err != nil {
		msg := vigil.ErrorMessage(err)
		// "The field 'colors.link' must be …." names a JSON path.
		if rest, ok := strings.CutPrefix(msg, "The field '"); ok {
			if field, why, ok := strings.Cut(rest, "' "); ok {
				if v, ok := nodes[field]; ok {
					p.failf(path+"."+field, v, "%s", strings.TrimSuffix(why, "."))
					return nil
				}
			}
		}
		p.failf(path, n, "%s", msg)
		return nil
	}
	return t
}

// themeObject checks the mapping n against the struct type typ by its
// JSON field names, recording each value node under its JSON path (jpath
// is the path of n, "" for the theme). It reports whether n was a mapping.
func (p *declParser) themeObject(path, jpath string, n *yaml.Node, typ reflect.Type, nodes map[string]*yaml.Node) bool {
	byKey := map[string]reflect.StructField{}
	var known []string
	for _, f := range reflect.VisibleFields(typ) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		byKey[name] = f
		known = append(known, name)
	}
	return p.fields(path, n, known, func(key, kp string, v *yaml.Node) {
		jp := key
		if jpath != "" {
			jp = jpath + "." + key
		}
		p.themeValue(kp, jp, v, byKey[key].Type, nodes)
	})
}

// themeValue checks one value of the theme against its Go type.
func (p *declParser) themeValue(path, jpath string, v *yaml.Node, typ reflect.Type, nodes map[string]*yaml.Node) {
	v = resolve(v)
	nodes[jpath] = v
	if isNull(v) {
		p.failf(path, v, "has no value: remove the key to leave it unset (and quote hex colours such as \"#1a73e8\": # starts a YAML comment)")
		return
	}
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	tag := v.ShortTag()
	switch typ.Kind() {
	case reflect.Struct:
		p.themeObject(path, jpath, v, typ, nodes)
	case reflect.Slice:
		p.seq(path, v, func(i int, ip string, item *yaml.Node) {
			p.themeValue(ip, jpath+"["+strconv.Itoa(i)+"]", item, typ.Elem(), nodes)
		})
	case reflect.String:
		// A font weight may be written as a number: 400.
		if v.Kind != yaml.ScalarNode || (tag != "!!str" && !(tag == "!!int" && strings.HasSuffix(jpath, ".weight"))) {
			p.failf(path, v, "must be a string (quote it)")
		}
	case reflect.Int:
		if n, err := strconv.Atoi(v.Value); v.Kind != yaml.ScalarNode || tag != "!!int" || err != nil || strconv.Itoa(n) != v.Value {
			p.failf(path, v, "must be a whole number")
		}
	case reflect.Bool:
		p.boolean(path, v)
	}
}
