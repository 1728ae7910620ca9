package compat

import (
	"cmp"
	"fmt"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
)

// Rule identifies one compatibility rule. Rule values are stable: they appear
// in CI output and as buf rule IDs.
type Rule string

// Rules about one schema on its own (reported by Lint and by Check on the
// current schema). They are package backport's annotation rules, the ones
// the engine compiles plans with.
const (
	// RuleBadVersion: an api version or a since is not MAJOR.MINOR.
	RuleBadVersion = Rule(backport.RuleVersionSyntax)
	// RuleAPIMismatch: files of one package declare different api versions.
	RuleAPIMismatch = Rule(backport.RuleAPIAgree)
	// RuleAPIPackage: (rollpin.v1.api) in a file whose package cannot be a
	// track.
	RuleAPIPackage = Rule(backport.RuleAPIPackage)
	// RuleSinceAboveAPI: a since is above its package's api version.
	RuleSinceAboveAPI = Rule(backport.RuleSinceNotAboveAPI)
	// RuleSinceWithoutAPI: a since in a package that declares no api version.
	RuleSinceWithoutAPI = Rule(backport.RuleSinceNeedsAPI)
	// RuleBadOnDowngrade: an on_downgrade without since, or an unknown value.
	RuleBadOnDowngrade = Rule(backport.RuleOnDowngradeValid)
	// RuleBadDefault: a default that does not parse for its field, or that
	// can never apply.
	RuleBadDefault = Rule(backport.RuleDefaultValid)
	// RuleBadDowngradeTo: a downgrade_to that names no older value of the
	// same enum, or sits on a value without since.
	RuleBadDowngradeTo = Rule(backport.RuleDowngradeToValid)
	// RuleOptionDecodes: the bytes of a rollpin option do not decode.
	RuleOptionDecodes = Rule(backport.RuleOptionDecodes)
)

// Rules comparing the current schema with the previous release (reported by
// Diff and Check).
const (
	// RuleSinceMissing: an element added since the previous release has no
	// since.
	RuleSinceMissing Rule = "ROLLPIN_SINCE_PRESENT"
	// RuleSinceNotNew: an added element's since is not above the previous
	// release's track version.
	RuleSinceNotNew Rule = "ROLLPIN_SINCE_ABOVE_PREVIOUS"
	// RuleAPIBackwards: a track's api version is below the previous release's.
	RuleAPIBackwards Rule = "ROLLPIN_API_VERSION_NOT_BACKWARDS"
	// RuleAPINotRaised: elements were added to a track but its api version
	// did not rise.
	RuleAPINotRaised Rule = "ROLLPIN_API_VERSION_RAISED"
	// RuleSinceChanged: the since of an element that already existed changed.
	RuleSinceChanged Rule = "ROLLPIN_SINCE_UNCHANGED"
	// RuleRemoved: an element disappeared without having been marked
	// deprecated in the previous release.
	RuleRemoved Rule = "ROLLPIN_REMOVE_ONLY_DEPRECATED"
	// RuleNotReserved: a deprecated field or enum value disappeared but its
	// number is not reserved.
	RuleNotReserved Rule = "ROLLPIN_REMOVED_NUMBER_RESERVED"
	// RuleRenumbered: a field or enum value kept its name but changed number.
	RuleRenumbered Rule = "ROLLPIN_NUMBER_UNCHANGED"
	// RuleRetyped: a field changed type or cardinality.
	RuleRetyped Rule = "ROLLPIN_FIELD_TYPE_UNCHANGED"
	// RuleMethodType: a method's request or response type, or its streaming,
	// changed.
	RuleMethodType Rule = "ROLLPIN_METHOD_TYPE_UNCHANGED"
	// RuleNumberReused: a field number of the previous release now holds a
	// field with another name (a reuse, or a rename that changes the JSON
	// and text names).
	RuleNumberReused Rule = "ROLLPIN_FIELD_NUMBER_NOT_REUSED"
	// RuleEnumValueName: an enum value number of the previous release now
	// has another name and the old name is not kept as an alias (JSON peers
	// send names).
	RuleEnumValueName Rule = "ROLLPIN_ENUM_VALUE_SAME_NAME"
	// RuleSameOneof: a field moved into, out of, or between oneofs (an old
	// peer would let two members be set, or clear one when another is set).
	RuleSameOneof Rule = "ROLLPIN_FIELD_SAME_ONEOF"
	// RuleJSONName: a field's JSON name changed.
	RuleJSONName Rule = "ROLLPIN_FIELD_SAME_JSON_NAME"
	// RuleAPIDropped: a package that declared (rollpin.v1.api) in the
	// previous release no longer does.
	RuleAPIDropped Rule = "ROLLPIN_API_VERSION_KEPT"
	// RuleDefaultChanged: the default of an existing field changed, so
	// receivers of the two releases read the same old request differently.
	// Allow it on purpose where that is intended.
	RuleDefaultChanged Rule = "ROLLPIN_DEFAULT_UNCHANGED"
	// RuleSinceOldMajor: an added element's since lies in an older major
	// than the track's new version.
	RuleSinceOldMajor Rule = "ROLLPIN_SINCE_IN_CURRENT_MAJOR"
)

// LintRules lists the rules Lint applies, in a stable order: backport's
// annotation rules.
func LintRules() []Rule {
	var out []Rule
	for _, r := range backport.Rules() {
		out = append(out, Rule(r))
	}
	return out
}

// DiffRules lists the rules Diff applies, in a stable order.
func DiffRules() []Rule {
	return []Rule{
		RuleSinceMissing, RuleSinceNotNew, RuleAPIBackwards, RuleAPINotRaised,
		RuleSinceChanged, RuleRemoved, RuleNotReserved, RuleRenumbered,
		RuleRetyped, RuleMethodType, RuleNumberReused, RuleEnumValueName,
		RuleSameOneof, RuleJSONName, RuleAPIDropped, RuleDefaultChanged,
		RuleSinceOldMajor,
	}
}

// Finding is one broken rule.
type Finding struct {
	// File is the path of the file holding Element: in the current schema,
	// or in the previous one for an element that was removed.
	File string
	// Element is the full name of the field, enum value, method, message,
	// enum, service or package (for track-level rules) concerned.
	Element protoreflect.FullName
	// Rule is the rule broken.
	Rule Rule
	// Message says what is wrong.
	Message string
	// Fix says how to repair it.
	Fix string
	// Previous is true when Element names an element of the previous schema
	// (it was removed).
	Previous bool
}

// String renders the finding on one line: "file: element: RULE: message; fix".
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s: %s; fix: %s", f.File, f.Element, f.Rule, f.Message, f.Fix)
}

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Element, b.Element),
			cmp.Compare(a.Rule, b.Rule),
		)
	})
}
