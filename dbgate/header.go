package dbgate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rollpin/rollpin/backport"
)

// Directive prefixes recognised in SQL line comments ("-- rollpin:...").
const (
	directivePrefix = "rollpin:"
	contractWord    = "contract"
	allowWord       = "allow"
)

// ErrHeader is wrapped by every error ParseContractHeader returns.
var ErrHeader = errors.New("dbgate: malformed rollpin:contract header")

// ParseContractHeader parses the text of a contract header comment,
// "-- rollpin:contract after=<manifest>" (the leading "--" is optional), and
// returns the manifest that must be reached before the migration may run.
// The manifest is backport's text form; several tracks are separated by
// commas. Errors wrap ErrHeader and say how to write the header.
func ParseContractHeader(comment string) (backport.Manifest, error) {
	body, ok := directiveBody(comment)
	if !ok {
		return backport.Manifest{}, fmt.Errorf("%w: %q is not a rollpin: directive", ErrHeader, comment)
	}
	word, rest, _ := strings.Cut(body, " ")
	if word != contractWord {
		return backport.Manifest{}, fmt.Errorf("%w: %q is not rollpin:contract", ErrHeader, word)
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return backport.Manifest{}, fmt.Errorf("%w: after= is missing: write -- rollpin:contract after=<track>=<MAJOR.MINOR>", ErrHeader)
	}
	var after backport.Manifest
	seen := false
	for _, f := range fields {
		key, val, found := strings.Cut(f, "=")
		if !found || key != "after" {
			return backport.Manifest{}, fmt.Errorf("%w: unknown field %q: the only field is after=<manifest>", ErrHeader, f)
		}
		if seen {
			return backport.Manifest{}, fmt.Errorf("%w: after= given twice: list every track in one after=, separated by commas", ErrHeader)
		}
		seen = true
		m, err := backport.ParseManifest(val)
		if err != nil {
			return backport.Manifest{}, fmt.Errorf("%w: after=%s: %v", ErrHeader, val, err)
		}
		if m.IsEmpty() {
			return backport.Manifest{}, fmt.Errorf("%w: after= is empty: name the version that must be reached, e.g. after=acme.volume.v1=1.4", ErrHeader)
		}
		after = m
	}
	return after, nil
}

// directiveBody returns the text after "rollpin:" of a line comment
// ("-- rollpin:allow x y" -> "allow x y"), whitespace-trimmed, and whether
// the comment is a rollpin directive at all.
func directiveBody(comment string) (string, bool) {
	c := strings.TrimSpace(comment)
	c = strings.TrimPrefix(c, "--")
	c = strings.TrimSpace(c)
	body, ok := strings.CutPrefix(c, directivePrefix)
	if !ok {
		return "", false
	}
	return strings.TrimSpace(strings.ReplaceAll(body, "\t", " ")), true
}

// allowDirective is one "-- rollpin:allow RULE-ID reason" comment.
type allowDirective struct {
	rule   string
	reason string
}

// parseAllow parses the body of an allow directive ("allow RULE-ID reason").
func parseAllow(body string) (allowDirective, error) {
	rest, _ := strings.CutPrefix(body, allowWord)
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return allowDirective{}, errors.New("rollpin:allow names no rule: write -- rollpin:allow RULE-ID reason")
	}
	rule := fields[0]
	if _, ok := ruleByID[rule]; !ok || rule == RuleSyntaxError || rule == RuleBadDirective {
		return allowDirective{}, fmt.Errorf("rollpin:allow %s: no such rule that can be allowed (see the rule table in the dbgate documentation)", rule)
	}
	if len(fields) < 2 {
		return allowDirective{}, fmt.Errorf("rollpin:allow %s gives no reason: say why the statement is safe after the rule ID", rule)
	}
	return allowDirective{rule: rule, reason: strings.Join(fields[1:], " ")}, nil
}
