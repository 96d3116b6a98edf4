package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-auth/vigil"
)

// exampleEnv provides the variables vigil.example.yaml references.
var exampleEnv = map[string]string{
	"ACME_SERVER_SECRET":     "acme-server-secret-0123456789",
	"ACME_MANAGEMENT_SECRET": "acme-management-secret-0123456789",
	"GLOBEX_SERVER_SECRET":   "globex-server-secret-0123456789",
}

func TestExampleFileParses(t *testing.T) {
	d, err := LoadDeclaration("../../vigil.example.yaml", envMap(exampleEnv))
	if err != nil {
		t.Fatalf("LoadDeclaration(vigil.example.yaml) error = %v", err)
	}
	if len(d.Tenants) != 2 {
		t.Fatalf("tenants = %d, want 2", len(d.Tenants))
	}
	acme := d.Tenants[0]
	if acme.ID != "6a1d6a2e-3c4f-4b1e-9d7a-0c2f5e8b9a41" || acme.Name != "Acme" || acme.TokenTTL != 10*time.Minute {
		t.Errorf("tenant 0 = %+v", acme)
	}
	if string(acme.ServerSecret) != exampleEnv["ACME_SERVER_SECRET"] || string(acme.ManagementSecret) != exampleEnv["ACME_MANAGEMENT_SECRET"] {
		t.Errorf("tenant 0 secrets were not expanded from the environment")
	}
	signIn := acme.Actions[0]
	want := &vigil.ActionConfig{
		TenantID:                  acme.ID,
		ActionCode:                "signIn",
		DefaultOutcome:            vigil.OutcomeChallenge,
		VerificationMethods:       []vigil.VerificationMethod{vigil.MethodPasskey, vigil.MethodEmailOTP, vigil.MethodAuthenticatorApp},
		DefaultVerificationMethod: vigil.MethodPasskey,
		PromptToEnrollMethods:     []vigil.VerificationMethod{vigil.MethodPasskey},
		VerificationWebhookURL:    "https://acme.example.com/hooks/vigil-verify",
	}
	var templates map[string]map[string]string
	if err := json.Unmarshal(signIn.MessagingTemplates, &templates); err != nil {
		t.Fatalf("messagingTemplates is not JSON: %v (%s)", err, signIn.MessagingTemplates)
	}
	if templates["en"]["defaultTemplate"] != "Your Acme sign-in code is {{code}}" {
		t.Errorf("messagingTemplates = %s", signIn.MessagingTemplates)
	}
	signIn.MessagingTemplates = nil
	if diff := cmp.Diff(want, signIn); diff != "" {
		t.Errorf("signIn mismatch (-want +got):\n%s", diff)
	}
	if got := len(acme.Actions); got != 4 {
		t.Errorf("acme actions = %d, want 4", got)
	}
	globex := d.Tenants[1]
	if globex.ManagementSecret != "" || globex.TokenTTL != 0 || globex.Actions[0].DefaultOutcome != vigil.OutcomeAllow {
		t.Errorf("tenant 1 = %+v", globex)
	}
	if globex.Actions[0].VerificationMethods != nil {
		t.Errorf("absent verificationMethods = %v, want nil", globex.Actions[0].VerificationMethods)
	}
}

func TestExampleFileNeedsItsVariables(t *testing.T) {
	env := map[string]string{"ACME_SERVER_SECRET": exampleEnv["ACME_SERVER_SECRET"]}
	_, err := LoadDeclaration("../../vigil.example.yaml", envMap(env))
	if err == nil {
		t.Fatal("LoadDeclaration() error = nil, want unset-variable errors")
	}
	for _, w := range []string{
		"tenants[0].managementSecret (line ",
		"environment variable ACME_MANAGEMENT_SECRET is not set",
		"tenants[1].serverSecret (line ",
		"environment variable GLOBEX_SERVER_SECRET is not set",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error = %q, want it to contain %q", err, w)
		}
	}
}

func TestParseDeclarationErrors(t *testing.T) {
	env := envMap(map[string]string{"SECRET": "a-long-enough-secret", "SHORT": "tiny"})
	const head = "tenants:\n  - tenantId: t1\n"
	const act = head + "    actions:\n      - actionCode: signIn\n        defaultUserActionResult: ALLOW\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"UnknownTop", "tenant: []\n", []string{"tenant (line 1): unknown field"}},
		{"UnknownTenantField", head + "    nmae: x\n", []string{"tenants[0].nmae (line 3): unknown field"}},
		{"UnknownActionField", act + "        defaultOutcome: ALLOW\n", []string{"tenants[0].actions[0].defaultOutcome (line 6): unknown field"}},
		{"MissingTenantID", "tenants:\n  - name: x\n", []string{"tenants[0].tenantId (line 2): is required"}},
		{"BadTenantID", "tenants:\n  - tenantId: 'a b'\n", []string{"tenants[0].tenantId (line 2):", "not a valid tenant ID"}},
		{"DuplicateTenant", head + "  - tenantId: t1\n", []string{"tenants[1].tenantId: tenant \"t1\" is already declared at tenants[0]"}},
		{"DuplicateKey", head + "    name: a\n    name: b\n", []string{"tenants[0].name (line 4): given more than once"}},
		{"TenantsNotList", "tenants: {a: 1}\n", []string{"tenants (line 1): must be a list"}},
		{"TenantNotMapping", "tenants: [x]\n", []string{"tenants[0] (line 1): must be a mapping"}},
		{"BadOutcome", head + "    actions:\n      - actionCode: a\n        defaultUserActionResult: MAYBE\n",
			[]string{"tenants[0].actions[0].defaultUserActionResult (line 5): \"MAYBE\" is not one of ALLOW, CHALLENGE, REVIEW, BLOCK"}},
		{"SecondActionBadOutcome", act + "      - actionCode: b\n        defaultUserActionResult: allow\n",
			[]string{"tenants[0].actions[1].defaultUserActionResult (line 7)"}},
		{"MissingOutcome", head + "    actions:\n      - actionCode: a\n", []string{"tenants[0].actions[0].defaultUserActionResult (line 4): is required"}},
		{"MissingCode", head + "    actions:\n      - defaultUserActionResult: ALLOW\n", []string{"tenants[0].actions[0].actionCode (line 4): is required"}},
		{"BadCode", head + "    actions:\n      - actionCode: 'sign in'\n        defaultUserActionResult: ALLOW\n",
			[]string{"tenants[0].actions[0].actionCode (line 4): \"sign in\" does not match"}},
		{"DuplicateAction", act + "      - actionCode: signIn\n        defaultUserActionResult: BLOCK\n",
			[]string{"tenants[0].actions[1].actionCode (line 6): action \"signIn\" is declared twice"}},
		{"BadMethod", act + "        verificationMethods: [PASSKEY, FAX]\n",
			[]string{"tenants[0].actions[0].verificationMethods[1] (line 6): \"FAX\" is not a verification method"}},
		{"RepeatedMethod", act + "        verificationMethods: [PASSKEY, PASSKEY]\n", []string{"verificationMethods[1] (line 6): PASSKEY is listed twice"}},
		{"BadPromptMethod", act + "        promptToEnrollVerificationMethods: [pass]\n", []string{"tenants[0].actions[0].promptToEnrollVerificationMethods[0]"}},
		{"BadDefaultMethod", act + "        defaultVerificationMethod: CARRIER_PIGEON\n", []string{"tenants[0].actions[0].defaultVerificationMethod (line 6)"}},
		{"DefaultNotAllowed", act + "        verificationMethods: [SMS]\n        defaultVerificationMethod: PASSKEY\n",
			[]string{"tenants[0].actions[0].defaultVerificationMethod (line 7): PASSKEY is not one of verificationMethods"}},
		{"TemplatesNotMapping", act + "        messagingTemplates: [a]\n", []string{"tenants[0].actions[0].messagingTemplates (line 6): must be a mapping"}},
		{"BadWebhook", act + "        verificationWebhookUrl: /relative\n", []string{"tenants[0].actions[0].verificationWebhookUrl (line 6)"}},
		{"UnsetEnv", head + "    serverSecret: ${NOPE}\n", []string{"tenants[0].serverSecret (line 3): environment variable NOPE is not set"}},
		{"ShortSecret", head + "    serverSecret: ${SHORT}\n", []string{"tenants[0].serverSecret (line 3): is 4 characters long; a secret must have at least 16"}},
		{"ShortLiteral", head + "    managementSecret: changeme\n", []string{"tenants[0].managementSecret (line 3): is 8 characters long"}},
		{"EmptySecret", head + "    serverSecret: ''\n", []string{"tenants[0].serverSecret (line 3): must not be empty"}},
		{"ColonSecret", head + "    serverSecret: 'abc:defghijklmnopq'\n", []string{"tenants[0].serverSecret (line 3): must not contain"}},
		{"SameSecretTwice", head + "    serverSecret: ${SECRET}\n    managementSecret: ${SECRET}\n",
			[]string{"tenants[0].managementSecret: is the same secret as tenants[0].serverSecret"}},
		{"SecretNotString", head + "    serverSecret: 12345678901234567890\n", []string{"tenants[0].serverSecret (line 3): must be a string"}},
		{"BadRef", head + "    serverSecret: ${1X}\n", []string{"tenants[0].serverSecret (line 3): ${1X} is not a valid environment variable reference"}},
		{"Unterminated", head + "    serverSecret: 'abcdefghijklmnop${X'\n", []string{"tenants[0].serverSecret (line 3): unterminated ${"}},
		{"BadTTL", head + "    tokenDurationInMinutes: 0\n", []string{"tenants[0].tokenDurationInMinutes (line 3): must be a whole number of minutes between 1 and 1440"}},
		{"TTLString", head + "    tokenDurationInMinutes: '10'\n", []string{"tenants[0].tokenDurationInMinutes (line 3)"}},
		{"Syntax", "tenants: [\n", []string{"yaml:"}},
		{"TwoDocuments", head + "---\ntenants: []\n", []string{"single YAML document"}},
		{"SecretNotEchoed", head + "    serverSecret: short-secret\n", []string{"tenants[0].serverSecret"}},
		{"ManyAtOnce", head + "    tokenDurationInMinutes: -1\n    actions:\n      - actionCode: 'x y'\n        defaultUserActionResult: NO\n",
			[]string{"tenants[0].tokenDurationInMinutes", "tenants[0].actions[0].actionCode", "tenants[0].actions[0].defaultUserActionResult"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDeclaration([]byte(tt.yaml), env)
			if err == nil {
				t.Fatalf("ParseDeclaration() error = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseDeclaration() error =\n%v\nwant it to contain %q", err, w)
				}
			}
			for _, s := range []string{"short-secret", "a-long-enough-secret", "tiny", "changeme"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("ParseDeclaration() error shows the secret %q: %v", s, err)
				}
			}
		})
	}
}

func TestParseDeclarationValid(t *testing.T) {
	env := envMap(map[string]string{"HOST": "hooks.example.com", "PART": "0123456789"})
	tests := []struct {
		name string
		yaml string
		want *Declaration
	}{
		{"Empty", "", &Declaration{}},
		{"Null", "tenants:\n", &Declaration{}},
		{"Minimal", "tenants:\n  - tenantId: t1\n", &Declaration{Tenants: []*TenantDecl{{ID: "t1"}}}},
		{"Expansion", `tenants:
  - tenantId: t1
    serverSecret: "pre-${PART}-${PART}"
    actions:
      - actionCode: a
        defaultUserActionResult: BLOCK
        verificationMethods: []
        verificationWebhookUrl: https://${HOST}/v
`, &Declaration{Tenants: []*TenantDecl{{
			ID:           "t1",
			ServerSecret: "pre-0123456789-0123456789",
			Actions: []*vigil.ActionConfig{{
				TenantID: "t1", ActionCode: "a", DefaultOutcome: vigil.OutcomeBlock,
				VerificationWebhookURL: "https://hooks.example.com/v",
			}},
		}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDeclaration([]byte(tt.yaml), env)
			if err != nil {
				t.Fatalf("ParseDeclaration() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseDeclaration() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDeclarationAliases(t *testing.T) {
	y := `tenants:
  - tenantId: t1
    actions:
      - &signin
        actionCode: signIn
        defaultUserActionResult: CHALLENGE
        messagingTemplates: {en: {n: 1, f: 1.5, b: true, z: null, l: [a, 2]}}
  - tenantId: t2
    actions: [*signin]
`
	d, err := ParseDeclaration([]byte(y), envMap(nil))
	if err != nil {
		t.Fatalf("ParseDeclaration() error = %v", err)
	}
	a, b := d.Tenants[0].Actions[0], d.Tenants[1].Actions[0]
	if a.TenantID != "t1" || b.TenantID != "t2" || a.ActionCode != "signIn" || b.ActionCode != "signIn" {
		t.Errorf("aliased actions = %+v, %+v", a, b)
	}
	if got, want := string(a.MessagingTemplates), `{"en":{"b":true,"f":1.5,"l":["a",2],"n":1,"z":null}}`; got != want {
		t.Errorf("messagingTemplates = %s, want %s", got, want)
	}
}

func TestLoadDeclarationMissingFile(t *testing.T) {
	_, err := LoadDeclaration(t.TempDir()+"/nope.yaml", envMap(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadDeclaration(missing) error = %v, want a not-exist error", err)
	}
}

func TestParseDeclarationClient(t *testing.T) {
	d, err := ParseDeclaration([]byte(`
tenants:
  - tenantId: acme
    client:
      allowedOrigins: [https://app.example.com]
      relyingPartyId: example.com
      counterRegression: review
`), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &vigil.ClientSettings{AllowedOrigins: []string{"https://app.example.com"}, RelyingPartyID: "example.com",
		CounterRegression: vigil.CounterReview}
	if diff := cmp.Diff(want, d.Tenants[0].Client); diff != "" {
		t.Errorf("client (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		"allowedOrigins: [https://app.example.com/path]",
		"allowedOrigins: [app.example.com]",
		"counterRegression: maybe",
		"relyingPartyId: https://example.com",
		"nope: 1",
	} {
		_, err := ParseDeclaration([]byte("tenants:\n  - tenantId: acme\n    client:\n      "+bad+"\n"), envMap(nil))
		if err == nil || !strings.Contains(err.Error(), "tenants[0].client") {
			t.Errorf("client %q: %v, want an error naming the path", bad, err)
		}
	}
}
