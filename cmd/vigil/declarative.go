package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-auth/vigil"
	"gopkg.in/yaml.v3"
)

// minSecretLength is the shortest API secret a configuration file may
// declare. Generated secrets are much longer; this only stops placeholders
// such as "changeme" from becoming credentials.
const minSecretLength = 16

// maxTokenDurationMinutes caps tokenDurationInMinutes at one day: a
// challenge token is meant to be short-lived.
const maxTokenDurationMinutes = 24 * 60

// tenantIDRE is the shape of a declared tenant ID: what fits in a URL path
// segment and a log line without escaping (a UUID does).
var tenantIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// envRefRE matches one ${NAME} reference in a configuration value.
var envRefRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// envNameRE is the shape of an environment variable name.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Declaration is a parsed and validated declarative configuration file: the
// tenants it declares and, per tenant, action configurations and their
// rules. Applying it creates or updates exactly these and touches nothing
// else.
type Declaration struct {
	Tenants []*TenantDecl
}

// TenantDecl is one declared tenant.
type TenantDecl struct {
	ID               string
	Name             string                // "": the ID when created, unchanged otherwise
	ServerSecret     Redacted              // "": none declared
	ManagementSecret Redacted              // "": none declared
	TokenTTL         time.Duration         // 0: not declared
	TimeZone         *string               // nil: not declared; "" is UTC
	Client           *vigil.ClientSettings // nil: not declared
	Theme            *vigil.Theme          // nil: not declared; one with nothing set clears the stored theme
	Actions          []*vigil.ActionConfig
	Rules            []*vigil.Rule // of the declared actions, in file order
	ValueLists       []*vigil.ValueList
	CustomDataPoints []*vigil.CustomDataPoint // in file order; ID "" names a point by model type and name
}

// LoadDeclaration reads and validates the YAML file at path, expanding
// ${NAME} references with getenv.
func LoadDeclaration(path string, getenv func(string) string) (*Declaration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	d, err := ParseDeclaration(b, getenv)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return d, nil
}

// ParseDeclaration parses and validates a declarative configuration. Every
// problem is reported, joined, each naming the path of the offending value
// (for example "tenants[0].actions[1].defaultUserActionResult") and its line.
// Unknown fields are errors. ${NAME} in tenantId, name, serverSecret,
// managementSecret and verificationWebhookUrl is replaced by getenv(NAME);
// a variable that is unset or empty is an error.
func ParseDeclaration(b []byte, getenv func(string) string) (*Declaration, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return &Declaration{}, nil // an empty file declares nothing
	} else if err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("the file must hold a single YAML document")
	}
	p := &declParser{getenv: getenv}
	d := p.root(&doc)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return d, nil
}

// declParser walks the YAML tree by hand, so that every error can name the
// path of the value it is about.
type declParser struct {
	getenv func(string) string
	errs   []error
}

// failf records a problem with the value at path.
func (p *declParser) failf(path string, n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if n != nil && n.Line > 0 {
		p.errs = append(p.errs, fmt.Errorf("%s (line %d): %s", path, n.Line, msg))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s", path, msg))
}

// resolve follows aliases and unwraps the document node.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// isNull reports whether n is absent or an explicit null.
func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// fields calls set for each key of the mapping n, in file order, and
// records unknown and repeated keys. It reports whether n was a mapping.
func (p *declParser) fields(path string, n *yaml.Node, known []string, set func(key, path string, v *yaml.Node)) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		p.failf(path, n, "must be a mapping")
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := path + "." + k.Value
		if path == "" {
			kp = k.Value
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			p.failf(path, k, "keys must be strings")
		case !slices.Contains(known, k.Value):
			p.failf(kp, k, "unknown field (known: %s)", strings.Join(known, ", "))
		case seen[k.Value]:
			p.failf(kp, k, "given more than once")
		default:
			seen[k.Value] = true
			set(k.Value, kp, v)
		}
	}
	return true
}

// str returns the string scalar n, or records an error.
func (p *declParser) str(path string, n *yaml.Node) string {
	n = resolve(n)
	if isNull(n) {
		return ""
	}
	switch {
	case n.Kind != yaml.ScalarNode:
		p.failf(path, n, "must be a string")
		return ""
	case n.ShortTag() != "!!str":
		// A bare 123 or true is almost always a mistake for a string field.
		p.failf(path, n, "must be a string (quote it)")
		return ""
	}
	return n.Value
}

// expand returns s with each ${NAME} replaced by getenv(NAME).
func (p *declParser) expand(path string, n *yaml.Node, s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	out := envRefRE.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if !envNameRE.MatchString(name) {
			p.failf(path, n, "${%s} is not a valid environment variable reference", name)
			return ""
		}
		v := p.getenv(name)
		if v == "" {
			p.failf(path, n, "environment variable %s is not set", name)
		}
		return v
	})
	if strings.Contains(envRefRE.ReplaceAllString(s, ""), "${") {
		p.failf(path, n, "unterminated ${ in value")
	}
	return out
}

// seq calls each for every item of the sequence n.
func (p *declParser) seq(path string, n *yaml.Node, each func(i int, path string, v *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.failf(path, n, "must be a list")
		return
	}
	for i, v := range n.Content {
		each(i, fmt.Sprintf("%s[%d]", path, i), v)
	}
}

// methods parses a list of verification methods.
func (p *declParser) methods(path string, n *yaml.Node) []vigil.VerificationMethod {
	var out []vigil.VerificationMethod
	p.seq(path, n, func(_ int, path string, v *yaml.Node) {
		m := vigil.VerificationMethod(p.str(path, v))
		switch {
		case !m.Valid():
			p.failf(path, v, "%q is not a verification method (one of %s)", m, strings.Join(methodNames(), ", "))
		case slices.Contains(out, m):
			p.failf(path, v, "%s is listed twice", m)
		default:
			out = append(out, m)
		}
	})
	return out
}

// root parses the top level of the file.
func (p *declParser) root(doc *yaml.Node) *Declaration {
	d := &Declaration{}
	if isNull(resolve(doc)) {
		return d
	}
	p.fields("", doc, []string{"tenants"}, func(_, path string, v *yaml.Node) {
		p.seq(path, v, func(_ int, path string, v *yaml.Node) {
			if t := p.tenant(path, v); t != nil {
				d.Tenants = append(d.Tenants, t)
			}
		})
	})
	p.crossCheck(d)
	return d
}

// tenant parses one tenants[i] item.
func (p *declParser) tenant(path string, n *yaml.Node) *TenantDecl {
	t := &TenantDecl{}
	known := []string{"tenantId", "name", "serverSecret", "managementSecret", "tokenDurationInMinutes", "timeZone", "client",
		"theme", "actions", "valueLists", "customDataPoints"}
	hasID := false
	ok := p.fields(path, n, known, func(key, kp string, v *yaml.Node) {
		switch key {
		case "tenantId":
			hasID = true
			t.ID = p.expand(kp, v, p.str(kp, v))
			if !tenantIDRE.MatchString(t.ID) {
				p.failf(kp, v, "%q is not a valid tenant ID (1 to 64 letters, digits, _ or -)", t.ID)
			}
		case "name":
			t.Name = strings.TrimSpace(p.expand(kp, v, p.str(kp, v)))
			if len(t.Name) > 200 {
				p.failf(kp, v, "is longer than 200 characters")
			}
		case "serverSecret":
			t.ServerSecret = p.secret(kp, v)
		case "managementSecret":
			t.ManagementSecret = p.secret(kp, v)
		case "tokenDurationInMinutes":
			v = resolve(v)
			if isNull(v) {
				return
			}
			m, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || err != nil || m < 1 || m > maxTokenDurationMinutes {
				p.failf(kp, v, "must be a whole number of minutes between 1 and %d", maxTokenDurationMinutes)
				return
			}
			t.TokenTTL = time.Duration(m) * time.Minute
		case "timeZone":
			tz := strings.TrimSpace(p.expand(kp, v, p.str(kp, v)))
			if err := vigil.CheckTimeZone(tz); err != nil {
				p.failf(kp, v, "%s", vigil.ErrorMessage(err))
				return
			}
			t.TimeZone = &tz
		case "client":
			t.Client = p.client(kp, v)
		case "theme":
			t.Theme = p.theme(kp, v)
		case "valueLists":
			p.seq(kp, v, func(_ int, path string, v *yaml.Node) {
				if l := p.valueList(path, v); l != nil {
					if slices.ContainsFunc(t.ValueLists, func(o *vigil.ValueList) bool { return o.Alias == l.Alias }) {
						p.failf(path+".alias", v, "value list %q is declared twice", l.Alias)
						return
					}
					t.ValueLists = append(t.ValueLists, l)
				}
			})
		case "customDataPoints":
			p.seq(kp, v, func(_ int, path string, v *yaml.Node) {
				if c := p.customDataPoint(path, v); c != nil {
					p.addCustomDataPoint(t, path, v, c)
				}
			})
		case "actions":
			p.seq(kp, v, func(_ int, path string, v *yaml.Node) {
				if c, rs := p.action(path, v); c != nil {
					if slices.ContainsFunc(t.Actions, func(o *vigil.ActionConfig) bool { return o.ActionCode == c.ActionCode }) {
						p.failf(path+".actionCode", v, "action %q is declared twice", c.ActionCode)
						return
					}
					t.Actions = append(t.Actions, c)
					for _, r := range rs {
						if slices.ContainsFunc(t.Rules, func(o *vigil.Rule) bool { return o.ID == r.ID }) {
							p.failf(path+".rules", v, "ruleId %q is declared twice in this tenant", r.ID)
							continue
						}
						t.Rules = append(t.Rules, r)
					}
				}
			})
		}
	})
	if ok && !hasID {
		p.failf(path+".tenantId", n, "is required")
	}
	for _, c := range t.Actions {
		c.TenantID = t.ID
	}
	for _, r := range t.Rules {
		r.TenantID = t.ID
	}
	for _, l := range t.ValueLists {
		l.TenantID = t.ID
	}
	for _, c := range t.CustomDataPoints {
		c.TenantID = t.ID
	}
	return t
}

// customDataPoint parses one customDataPoints[k] item: the Management API's
// CustomDataPoint fields. The id is optional: without one, the point is
// named by its model type and name when the file is applied.
func (p *declParser) customDataPoint(path string, n *yaml.Node) *vigil.CustomDataPoint {
	c := &vigil.CustomDataPoint{}
	known := []string{"id", "name", "dataType", "modelType", "description", "isPublic"}
	var hasName, hasData, hasModel bool
	// str returns a string field and whether it is one; a value that is
	// not gets one error, not a second one about its shape.
	str := func(kp string, v *yaml.Node) (string, bool) {
		errs := len(p.errs)
		s := p.str(kp, v)
		return s, len(p.errs) == errs
	}
	ok := p.fields(path, n, known, func(key, kp string, v *yaml.Node) {
		var isStr bool
		switch key {
		case "id":
			if c.ID, isStr = str(kp, v); isStr && !isNull(resolve(v)) && !vigil.ValidCustomDataPointID(c.ID) {
				p.failf(kp, v, "%q is not a valid id (1 to 64 letters, digits, _ or -; a UUID fits)", c.ID)
			}
		case "name":
			hasName = true
			if c.Name, isStr = str(kp, v); isStr && !vigil.ValidCustomDataPointName(c.Name) {
				p.failf(kp, v, "%q does not match ^[A-Za-z_][A-Za-z0-9_]{0,63}$ (no dots: a dot separates the parts of a rule variable)", c.Name)
			}
		case "dataType":
			hasData = true
			if c.DataType, isStr = str(kp, v); isStr && !vigil.ValidCustomDataType(c.DataType) {
				p.failf(kp, v, "%q is not one of text, number, boolean, multiselect", c.DataType)
			}
		case "modelType":
			hasModel = true
			if c.ModelType, isStr = str(kp, v); isStr && !vigil.ValidCustomModelType(c.ModelType) {
				p.failf(kp, v, "%q is not user or action", c.ModelType)
			}
		case "description":
			if c.Description, isStr = str(kp, v); isStr && len(c.Description) > vigil.MaxCustomDataPointDescriptionBytes {
				p.failf(kp, v, "is longer than %d bytes", vigil.MaxCustomDataPointDescriptionBytes)
			}
		case "isPublic":
			if !isNull(resolve(v)) {
				c.IsPublic = p.boolean(kp, v)
			}
		}
	})
	if !ok {
		return nil
	}
	for _, r := range []struct {
		has       bool
		key, hint string
	}{
		{hasName, "name", ""},
		{hasData, "dataType", " (text, number, boolean or multiselect)"},
		{hasModel, "modelType", " (user or action)"},
	} {
		if !r.has {
			p.failf(path+"."+r.key, n, "is required%s", r.hint)
		}
	}
	return c
}

// addCustomDataPoint adds c to t unless t already declares its id, or its
// model type and name.
func (p *declParser) addCustomDataPoint(t *TenantDecl, path string, n *yaml.Node, c *vigil.CustomDataPoint) {
	for _, o := range t.CustomDataPoints {
		switch {
		case c.ID != "" && o.ID == c.ID:
			p.failf(path+".id", n, "custom data point id %q is declared twice", c.ID)
			return
		case o.ModelType == c.ModelType && o.Name == c.Name:
			p.failf(path+".name", n, "custom data point %q of model type %s is declared twice", c.Name, c.ModelType)
			return
		}
	}
	t.CustomDataPoints = append(t.CustomDataPoints, c)
}

// client parses a tenant's client: block (vigil.ClientSettings).
func (p *declParser) client(path string, n *yaml.Node) *vigil.ClientSettings {
	c := &vigil.ClientSettings{}
	strs := func(kp string, v *yaml.Node) []string {
		var out []string
		p.seq(kp, v, func(_ int, ip string, item *yaml.Node) {
			out = append(out, strings.TrimSpace(p.expand(ip, item, p.str(ip, item))))
		})
		return out
	}
	p.fields(path, n, []string{"allowedOrigins", "relyingPartyId", "relyingPartyName", "webauthnOrigins",
		"counterRegression", "allowRemovingLastAuthenticator", "disableRecoveryCodes", "lockTrackedContact"}, func(key, kp string, v *yaml.Node) {
		switch key {
		case "allowedOrigins":
			c.AllowedOrigins = strs(kp, v)
		case "webauthnOrigins":
			c.WebAuthnOrigins = strs(kp, v)
		case "relyingPartyId":
			c.RelyingPartyID = strings.TrimSpace(p.expand(kp, v, p.str(kp, v)))
		case "relyingPartyName":
			c.RelyingPartyName = strings.TrimSpace(p.expand(kp, v, p.str(kp, v)))
		case "counterRegression":
			c.CounterRegression = p.str(kp, v)
		case "allowRemovingLastAuthenticator":
			c.AllowRemovingLastAuthenticator = p.boolean(kp, v)
		case "disableRecoveryCodes":
			c.DisableRecoveryCodes = p.boolean(kp, v)
		case "lockTrackedContact":
			c.LockTrackedContact = p.boolean(kp, v)
		}
	})
	if err := vigil.CheckClientSettings(c); err != nil {
		p.failf(path, n, "%s", vigil.ErrorMessage(err))
	}
	return c
}

// secret parses a serverSecret or managementSecret value.
func (p *declParser) secret(path string, n *yaml.Node) Redacted {
	s := p.expand(path, n, p.str(path, n))
	if s == "" {
		if !isNull(resolve(n)) && !strings.Contains(n.Value, "${") {
			p.failf(path, n, "must not be empty (remove it to declare no secret)")
		}
		return ""
	}
	if len(s) < minSecretLength {
		// Never echo the value: it is a credential.
		p.failf(path, n, "is %d characters long; a secret must have at least %d", len(s), minSecretLength)
	}
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, ":\n\r\t ") {
		p.failf(path, n, "must not contain spaces, colons or line breaks (it is sent as an HTTP Basic user name)")
	}
	return Redacted(s)
}

// action parses one actions[j] item and its rules.
func (p *declParser) action(path string, n *yaml.Node) (*vigil.ActionConfig, []*vigil.Rule) {
	c := &vigil.ActionConfig{}
	known := []string{"actionCode", "defaultUserActionResult", "verificationMethods", "defaultVerificationMethod",
		"promptToEnrollVerificationMethods", "messagingTemplates", "verificationWebhookUrl", "rules"}
	var rulesNode *yaml.Node
	var rulesPath string
	var hasCode, hasOutcome bool
	var defaultNode *yaml.Node
	ok := p.fields(path, n, known, func(key, kp string, v *yaml.Node) {
		switch key {
		case "actionCode":
			hasCode = true
			c.ActionCode = p.str(kp, v)
			if !vigil.ValidActionCode(c.ActionCode) {
				p.failf(kp, v, "%q does not match ^[a-zA-Z0-9_-]{1,64}$", c.ActionCode)
			}
		case "defaultUserActionResult":
			hasOutcome = true
			c.DefaultOutcome = vigil.Outcome(p.str(kp, v))
			if !c.DefaultOutcome.Valid() {
				p.failf(kp, v, "%q is not one of ALLOW, CHALLENGE, REVIEW, BLOCK", c.DefaultOutcome)
			}
		case "verificationMethods":
			c.VerificationMethods = p.methods(kp, v)
		case "defaultVerificationMethod":
			defaultNode = v
			c.DefaultVerificationMethod = vigil.VerificationMethod(p.str(kp, v))
			if c.DefaultVerificationMethod != "" && !c.DefaultVerificationMethod.Valid() {
				p.failf(kp, v, "%q is not a verification method (one of %s)", c.DefaultVerificationMethod, strings.Join(methodNames(), ", "))
			}
		case "promptToEnrollVerificationMethods":
			c.PromptToEnrollMethods = p.methods(kp, v)
		case "messagingTemplates":
			v = resolve(v)
			if isNull(v) {
				return
			}
			if v.Kind != yaml.MappingNode {
				p.failf(kp, v, "must be a mapping (it is stored as a JSON object)")
				return
			}
			val, err := jsonValue(v)
			if err != nil {
				p.failf(kp, v, "%v", err)
				return
			}
			b, err := json.Marshal(val)
			if err != nil {
				p.failf(kp, v, "cannot be stored as JSON: %v", err)
				return
			}
			c.MessagingTemplates = b
		case "rules":
			rulesNode, rulesPath = v, kp
		case "verificationWebhookUrl":
			c.VerificationWebhookURL = p.expand(kp, v, p.str(kp, v))
			if c.VerificationWebhookURL != "" {
				u, err := url.Parse(c.VerificationWebhookURL)
				if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					p.failf(kp, v, "%q is not an absolute http or https URL", c.VerificationWebhookURL)
				}
			}
		}
	})
	if !ok {
		return nil, nil
	}
	if !hasCode {
		p.failf(path+".actionCode", n, "is required")
	}
	if !hasOutcome {
		p.failf(path+".defaultUserActionResult", n, "is required (ALLOW, CHALLENGE, REVIEW or BLOCK)")
	}
	if m := c.DefaultVerificationMethod; m != "" && m.Valid() && len(c.VerificationMethods) > 0 && !slices.Contains(c.VerificationMethods, m) {
		p.failf(path+".defaultVerificationMethod", defaultNode, "%s is not one of verificationMethods", m)
	}
	// An empty list means the same as an absent one: the stored value is nil.
	if len(c.VerificationMethods) == 0 {
		c.VerificationMethods = nil
	}
	if len(c.PromptToEnrollMethods) == 0 {
		c.PromptToEnrollMethods = nil
	}
	var rs []*vigil.Rule
	if rulesNode != nil {
		rs = p.rules(rulesPath, rulesNode, c.ActionCode)
	}
	return c, rs
}

// crossCheck records problems that span tenants: a repeated tenant ID, and
// a secret used twice (a secret must identify one tenant and one API).
func (p *declParser) crossCheck(d *Declaration) {
	ids := map[string]int{}
	secrets := map[Redacted]string{}
	for i, t := range d.Tenants {
		path := fmt.Sprintf("tenants[%d]", i)
		if j, dup := ids[t.ID]; dup && t.ID != "" {
			p.failf(path+".tenantId", nil, "tenant %q is already declared at tenants[%d]", t.ID, j)
		}
		ids[t.ID] = i
		for _, s := range []struct {
			field  string
			secret Redacted
		}{{"serverSecret", t.ServerSecret}, {"managementSecret", t.ManagementSecret}} {
			if s.secret == "" {
				continue
			}
			if other, dup := secrets[s.secret]; dup {
				p.failf(path+"."+s.field, nil, "is the same secret as %s; every secret must be unique", other)
			}
			secrets[s.secret] = path + "." + s.field
		}
	}
}

// jsonValue converts a YAML node into a value encoding/json can marshal.
func jsonValue(n *yaml.Node) (any, error) {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: keys must be strings", k.Line)
			}
			v, err := jsonValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := jsonValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, fmt.Errorf("line %d: %q is not a JSON number", n.Line, n.Value)
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
		default:
			return n.Value, nil
		}
	}
	return nil, fmt.Errorf("line %d: unsupported YAML value", n.Line)
}

// methodNames lists the verification methods a configuration may name.
func methodNames() []string {
	all := []vigil.VerificationMethod{
		vigil.MethodSMS, vigil.MethodEmailOTP, vigil.MethodEmailMagicLink, vigil.MethodAuthenticatorApp,
		vigil.MethodPasskey, vigil.MethodSecurityKey, vigil.MethodPush, vigil.MethodVeriff, vigil.MethodIProov,
		vigil.MethodIDVerse, vigil.MethodPalmBiometricsRR, vigil.MethodRecoveryCode, vigil.MethodDevice, vigil.MethodWhatsApp,
	}
	names := make([]string, len(all))
	for i, m := range all {
		names[i] = string(m)
	}
	return names
}

// applyDeps are the services and settings Apply needs.
type applyDeps struct {
	Tenants    vigil.TenantService
	Configs    vigil.ActionConfigService
	Rules      vigil.RuleService
	ValueLists vigil.ValueListService
	KeyOverlap time.Duration
	Now        func() time.Time
	Rand       io.Reader
	Logger     *slog.Logger

	CustomDataPoints vigil.CustomDataPointService // needed only when custom data points are declared
}

// Apply makes the database match d: each declared tenant is created, or its
// name and token lifetime updated; each declared secret becomes an active
// key (a replaced one stays valid for KeyOverlap); each declared action
// configuration, value list (by alias) and custom data point (by id, or
// without one by model type and name) is created or replaced, and so
// is each declared rule (by
// ruleId; the action's other rules are kept). Nothing that d does not declare is
// touched, and applying d twice changes nothing the second time.
func (d *Declaration) Apply(ctx context.Context, deps applyDeps) error {
	for _, td := range d.Tenants {
		if err := td.apply(ctx, deps); err != nil {
			return fmt.Errorf("config: tenant %s: %w", td.ID, err)
		}
	}
	return nil
}

// apply applies one declared tenant.
func (td *TenantDecl) apply(ctx context.Context, deps applyDeps) error {
	log := deps.Logger.With("tenant_id", td.ID)
	var keys []*vigil.APIKey
	for _, s := range []struct {
		kind   vigil.KeyKind
		secret Redacted
	}{{vigil.KeyServer, td.ServerSecret}, {vigil.KeyManagement, td.ManagementSecret}} {
		if s.secret == "" {
			continue
		}
		k, err := newAPIKey(deps.Rand, td.ID, s.kind, string(s.secret))
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}

	t, err := deps.Tenants.FindTenantByID(ctx, td.ID)
	switch {
	case vigil.ErrorCode(err) == vigil.ENOTFOUND:
		t = &vigil.Tenant{ID: td.ID, Name: td.Name, TokenTTL: td.TokenTTL}
		if td.TimeZone != nil {
			t.TimeZone = *td.TimeZone
		}
		if td.Client != nil {
			t.Client = *td.Client
		}
		t.Theme = vigil.CompactTheme(td.Theme)
		if t.Name == "" {
			t.Name = td.ID
		}
		if err := deps.Tenants.CreateTenant(ctx, t, keys); err != nil {
			return fmt.Errorf("create tenant: %w", err)
		}
		log.Info("config: tenant created", "name", t.Name, "keys", len(keys))
	case err != nil:
		return fmt.Errorf("find tenant: %w", err)
	default:
		var upd vigil.TenantUpdate
		if td.Name != "" && td.Name != t.Name {
			upd.Name = &td.Name
		}
		if td.TokenTTL != 0 && td.TokenTTL != t.TokenTTL {
			upd.TokenTTL = &td.TokenTTL
		}
		if td.TimeZone != nil && *td.TimeZone != t.TimeZone {
			upd.TimeZone = td.TimeZone
		}
		if td.Client != nil && !reflect.DeepEqual(*td.Client, t.Client) {
			upd.Client = td.Client
		}
		if td.Theme != nil && !reflect.DeepEqual(vigil.CompactTheme(td.Theme), t.Theme) {
			upd.Theme = td.Theme
		}
		if upd.Name != nil || upd.TokenTTL != nil || upd.TimeZone != nil || upd.Client != nil || upd.Theme != nil {
			if _, err := deps.Tenants.UpdateTenant(ctx, td.ID, upd); err != nil {
				return fmt.Errorf("update tenant: %w", err)
			}
			log.Info("config: tenant updated")
		}
		overlapUntil := deps.Now().Add(deps.KeyOverlap)
		for _, k := range keys {
			changed, err := deps.Tenants.EnsureKey(ctx, k, overlapUntil)
			if err != nil {
				return fmt.Errorf("ensure %s key: %w", k.Kind, err)
			}
			if changed {
				log.Info("config: API secret replaced; the previous one stays valid until the overlap ends",
					"kind", k.Kind, "hint", k.Hint, "overlap_until", overlapUntil.UTC().Format(time.RFC3339))
			}
		}
	}

	tctx := vigil.NewContextWithTenant(ctx, td.ID)
	if len(td.ValueLists) > 0 && deps.ValueLists == nil {
		return errors.New("value lists declared but no value list service")
	}
	for _, l := range td.ValueLists {
		cp := *l
		changed, err := deps.ValueLists.PutValueList(tctx, &cp)
		if err != nil {
			return fmt.Errorf("value list %s: %w", l.Alias, err)
		}
		if changed {
			log.Info("config: value list applied", "alias", l.Alias)
		}
	}
	if len(td.CustomDataPoints) > 0 && deps.CustomDataPoints == nil {
		return errors.New("custom data points declared but no custom data point service")
	}
	for _, c := range td.CustomDataPoints {
		cp := *c // Put fills in the ID; keep the declaration pristine
		changed, err := deps.CustomDataPoints.PutCustomDataPoint(tctx, &cp)
		if err != nil {
			return fmt.Errorf("custom data point %s %s: %w", c.ModelType, c.Name, err)
		}
		if changed {
			log.Info("config: custom data point applied", "id", cp.ID, "model_type", c.ModelType, "name", c.Name)
		}
	}
	for _, c := range td.Actions {
		cp := *c // Upsert may fill in timestamps; keep the declaration pristine
		changed, err := deps.Configs.UpsertActionConfig(tctx, &cp)
		if err != nil {
			return fmt.Errorf("action %s: %w", c.ActionCode, err)
		}
		if changed {
			log.Info("config: action configuration applied", "action_code", c.ActionCode, "default_outcome", c.DefaultOutcome)
		}
	}
	if len(td.Rules) > 0 && deps.Rules == nil {
		return errors.New("rules declared but no rule service")
	}
	for _, r := range td.Rules {
		cp := *r
		changed, err := deps.Rules.PutRule(tctx, &cp)
		if err != nil {
			return fmt.Errorf("action %s: rule %s: %w", r.ActionCode, r.ID, err)
		}
		if changed {
			log.Info("config: rule applied", "action_code", r.ActionCode, "rule_id", r.ID, "priority", r.Priority, "type", r.Type)
		}
	}
	return nil
}
