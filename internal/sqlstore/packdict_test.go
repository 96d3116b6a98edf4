package sqlstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
)

var writePackDict = flag.String("write-packdict", "", "write buildPackDict's bytes to this file (for a new dictionary version only)")

// packDict1SHA256 pins packdict1.dict: rows on disk decode with it, so
// its bytes may never change. A better dictionary is a new file with a new
// marker, next to this one.
const packDict1SHA256 = "269793f7565629624dc507f1d58e90794603a666bc008311a63375b45192eeb0"

// buildPackDict returns the text of packdict1.dict: the fragments that a
// stored decision with an explanation repeats (see rules.Set.appendOutput
// and appendDecision), least common first, since S2 codes the nearest
// copies (the end of the dictionary) shortest. It is kept to show how the
// dictionary was made; the file, not this function, is what decodes rows.
func buildPackDict() []byte {
	var b strings.Builder
	w := b.WriteString
	methods := []string{"PALM_BIOMETRICS_RR", "IDVERSE", "IPROOV", "VERIFF", "PUSH", "RECOVERY_CODE",
		"SMS", "EMAIL_MAGIC_LINK", "EMAIL_OTP", "AUTHENTICATOR_APP", "SECURITY_KEY", "PASSKEY"}
	for _, m := range methods {
		w(`"` + m + `",`)
	}
	w(`"PromptToEnrollMethods":["PASSKEY"],"DefaultVerificationMethod":"PASSKEY",`)
	w(`"VerificationMethods":["PASSKEY","SECURITY_KEY","AUTHENTICATOR_APP","EMAIL_OTP","EMAIL_MAGIC_LINK","SMS"],`)
	w(`"Rules":[{"ID":"","Name":"","Description":""}],"PriorityRuleID":"","RuleIDs":["`)
	for _, v := range []string{"Windows", "macOS", "iOS", "Android", "Linux", "ChromeOS",
		"Chrome", "Safari", "Firefox", "Edge", "Opera", "Samsung Internet", "curl",
		"desktop", "mobile", "tablet", "bot", "unknown", "US", "GB", "DE", "FR", "IN", "BR", "AU", "NZ"} {
		w(`"` + v + `",`)
	}
	w(`"error":"`)
	w(`"shadowMatches":[{"ruleId":"","name":"","priority":0,"outcome":"BLOCK","wouldDecide":true}]`)
	for _, op := range []string{"all", "some", "none", "missing", "if", "!!", "!", "!==", "===",
		"!=", "<", "<=", ">", ">=", "cidr", "in", "=="} {
		w(`{"path":"/and/0","op":"` + op + `","args":[0,1],"value":false},`)
	}
	w(`"list":"`)
	for _, args := range []string{`["",""]`, `[0,0]`, `[null]`, `[true,false]`, `[false,true]`} {
		w(`"args":` + args + `,"value":false}`)
	}
	for _, p := range []string{"/or/2", "/or/1", "/or/0", "/and/4", "/and/3", "/and/2", "/and/1", "/and/0", ""} {
		w(`"failed":[{"path":"` + p + `","op":"==","args":[false,true],"value":false}]},`)
	}
	for _, t := range []string{"ALLOW", "REVIEW", "BLOCK", "CHALLENGE"} {
		w(`,"priority":1,"type":"` + t + `","shadow":true,"matched":true},{"ruleId":"`)
		w(`,"priority":0,"type":"` + t + `","matched":false,"failed":[{"path":"/and/0","op":"==","args":[false,true],"value":false}]},{"ruleId":"`)
	}
	for _, n := range []string{"user.custom.", "custom.", "time.dayOfWeek", "time.hourOfDay",
		"action.code", "action.countLastDay", "action.countLastHour",
		"user.distinctIpsLastDay", "user.failedChallengesLastHour", "user.accountAgeDays", "user.username",
		"user.phoneNumber", "user.emailDomain", "user.email", "user.hasPreviouslyVerified",
		"user.enrolledVerificationMethods", "user.isEnrolled", "user.id",
		"device.type", "device.osVersion", "device.os", "device.browserVersion", "device.browser",
		"device.isBot", "device.count", "device.isRemembered", "device.isNew", "device.id",
		"ip.atypicalTravel", "ip.travelSpeedKmh", "ip.impossibleTravel", "ip.isUnrecognized",
		"ip.countryCodeInOfacList", "ip.asOrganization", "ip.asn", "ip.location.longitude",
		"ip.location.latitude", "ip.location.regionCode", "ip.location.region", "ip.location.city",
		"ip.countryCode", "ip.location.country.countryCode", "ip.anonymousReasons", "ip.isAnonymous", "ip.address"} {
		w(`"` + n + `":false,`)
	}
	for _, o := range []string{"BLOCK", "REVIEW", "CHALLENGE"} {
		w(`{"Outcome":"` + o + `","Output":{"version":1,"traced":true,"decidedBy":"rule","dataPoints":{"`)
	}
	w(`{"Outcome":"ALLOW","Output":{"version":1,"traced":true,"decidedBy":"default","dataPoints":{"`)
	return []byte(b.String())
}

func TestPackDictFrozen(t *testing.T) {
	if *writePackDict != "" {
		if err := os.WriteFile(*writePackDict, buildPackDict(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(packDict1)
	if got := hex.EncodeToString(sum[:]); got != packDict1SHA256 {
		t.Errorf("packdict1.dict has SHA-256 %s, want %s: rows stored with it would no longer decode", got, packDict1SHA256)
	}
	if i := bytes.LastIndex(packDict1, []byte(`{"Outcome":"ALLOW"`)); i != packDict1Repeat {
		t.Errorf("packDict1Repeat = %d, want %d: the last decision header", packDict1Repeat, i)
	}
	if packDict == nil {
		t.Fatal("packdict1.dict is not a valid S2 dictionary")
	}
	if !bytes.Equal(packDict1, buildPackDict()) {
		t.Error("buildPackDict no longer makes packdict1.dict; it must not change (make a new version instead)")
	}
}
