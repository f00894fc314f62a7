package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/schemas"
)

func TestDeadLetterOnResolves(t *testing.T) {
	p, err := Parse([]byte(`
containers:
  c:
    image: x
    dead_letter_on: [failed, lost]
    script_config:
      apply: {}
      plan: {dead_letter_on: []}
      check: {dead_letter_on: [timed_out]}
  d:
    image: x
    script_config:
      s: {}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		container, script string
		want              []schemas.Outcome
	}{
		{"c", "apply", []schemas.Outcome{schemas.OutcomeFailed, schemas.OutcomeLost}},
		{"c", "plan", []schemas.Outcome{}},
		{"c", "check", []schemas.Outcome{schemas.OutcomeTimedOut}},
		{"d", "s", schemas.DefaultDeadLetterOn()},
	} {
		o, err := p.Resolve(request(tt.container, tt.script), ciRole, testNow)
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.container, tt.script, err)
		}
		if o.DeadLetterOn == nil || !reflect.DeepEqual(o.DeadLetterOn, tt.want) {
			t.Errorf("%s/%s: dead_letter_on = %#v, want %#v", tt.container, tt.script, o.DeadLetterOn, tt.want)
		}
		// The order carries it through the run queue: [] stays "none".
		body, err := o.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := schemas.DecodeRunOrder(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range schemas.DefaultDeadLetterOn() {
			if got, want := back.DeadLetters(out), containsOutcome(tt.want, out); got != want {
				t.Errorf("%s/%s: DeadLetters(%s) = %v after a round trip, want %v", tt.container, tt.script, out, got, want)
			}
		}
	}
	// Config keeps an empty list as "none", not as "the default".
	if got := p.Config().Containers["c"].ScriptConfig["plan"].DeadLetterOn; got == nil || len(got) != 0 {
		t.Errorf("Config() plan dead_letter_on = %#v, want []", got)
	}
}

func containsOutcome(list []schemas.Outcome, o schemas.Outcome) bool {
	for _, x := range list {
		if x == o {
			return true
		}
	}
	return false
}

func TestDeadLetterOnRejectsUnknownOutcomes(t *testing.T) {
	for _, bad := range []string{"[succeeded]", "[cancelled]", "[failed, failed]", "[nope]", "failed"} {
		_, err := Parse([]byte("containers:\n  c:\n    image: x\n    script_config:\n      s: {dead_letter_on: "+bad+"}\n"), "")
		if err == nil || !strings.Contains(err.Error(), "dead_letter_on") {
			t.Errorf("dead_letter_on: %s: err = %v, want a problem naming dead_letter_on", bad, err)
		}
	}
}

func TestOrderWithoutDeadLetterOnUsesTheDefault(t *testing.T) {
	var o schemas.RunOrder // an order from a gatekeeper that predates the field
	for _, out := range schemas.DefaultDeadLetterOn() {
		if !o.DeadLetters(out) {
			t.Errorf("DeadLetters(%s) = false on an order without dead_letter_on", out)
		}
	}
	for _, out := range []schemas.Outcome{schemas.OutcomeSucceeded, schemas.OutcomeCancelled} {
		o.DeadLetterOn = []schemas.Outcome{out}
		if o.DeadLetters(out) {
			t.Errorf("DeadLetters(%s) = true", out)
		}
	}
}
