package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/descriptorpb"
	"sigs.k8s.io/yaml"

	"github.com/rollpin/rollpin/compat"
)

// newCheckCmd is `pindctl check`: compat's rules without buf.
func newCheckCmd(a *app) *cobra.Command {
	var against string
	var allow []string
	cmd := &cobra.Command{
		Use:   "check [--against PREVIOUS] CURRENT",
		Short: "Check an API's rollpin annotations against its previous release",
		Long: `check reads the descriptors of the current build of an API (CURRENT) and of
its previous release (--against PREVIOUS) and reports every broken rollpin
compatibility rule, with the element and how to fix it: an added field, enum
value or method without since, or with a since not above the previous version
or in an older major; an api version that did not rise, went back or was
dropped; a since, default, number, name, JSON name, oneof, field type or
method type that changed (the wire and JSON breaks that make an old peer
misread a message); an element removed before it was deprecated, or whose
number is not reserved; and every annotation the engine would refuse
(on_downgrade, default or downgrade_to without since, a default that does
not parse, a downgrade_to that names no older value, ...). Without --against
only the rules about CURRENT alone run.

--allow RULE_ID accepts the findings of a rule for this run, for a change
made on purpose (e.g. --allow ROLLPIN_DEFAULT_UNCHANGED when a default
changes deliberately).

Both files are FileDescriptorSets (protoc --include_imports
--descriptor_set_out) or buf images (buf build -o FILE); binary, JSON or
gzip-compressed. buf users get the same rules from buf-plugin-rollpin in
buf lint and buf breaking.

Exit code 1 when a rule is broken. It does not contact pind.`,
		Example: `  pindctl check --against release-1.3.binpb head.binpb
  pindctl check -o json --against release-1.3.binpb head.binpb`,
		Args: exactArgs(1, "the current descriptor set (CURRENT)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cur, err := compat.ReadImage(args[0])
			if err != nil {
				return fmt.Errorf("%w: give a FileDescriptorSet (protoc --include_imports --descriptor_set_out) or a buf image (buf build -o)", err)
			}
			var prev *descriptorpb.FileDescriptorSet // nil: only the rules about CURRENT alone
			if against != "" {
				if prev, err = compat.ReadImage(against); err != nil {
					return fmt.Errorf("--against: %w: give a FileDescriptorSet or a buf image of the previous release", err)
				}
			}
			findings, err := compat.Check(prev, cur)
			if err != nil {
				return err
			}
			findings, err = allowRules(findings, allow)
			if err != nil {
				return err
			}
			if err := a.printFindings(findings); err != nil {
				return err
			}
			if len(findings) > 0 {
				return fmt.Errorf("%d compatibility rule(s) broken; fix each as its line says, then run check again", len(findings))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&against, "against", "", "descriptor set or buf image of the previous release")
	cmd.Flags().StringSliceVar(&allow, "allow", nil, "rule ID whose findings are accepted on purpose (repeatable)")
	return cmd
}

// allowRules drops the findings of the allowed rules. An unknown rule ID is
// a usage error, so that a typo cannot silence nothing.
func allowRules(findings []compat.Finding, allow []string) ([]compat.Finding, error) {
	if len(allow) == 0 {
		return findings, nil
	}
	known := map[compat.Rule]bool{}
	for _, r := range append(compat.LintRules(), compat.DiffRules()...) {
		known[r] = true
	}
	allowed := map[compat.Rule]bool{}
	for _, a := range allow {
		r := compat.Rule(strings.TrimSpace(a))
		if !known[r] {
			return nil, usagef("--allow %q: no such rule; rules are %s", a, ruleList())
		}
		allowed[r] = true
	}
	out := findings[:0:0]
	for _, f := range findings {
		if !allowed[f.Rule] {
			out = append(out, f)
		}
	}
	return out, nil
}

func ruleList() string {
	var names []string
	for _, r := range append(compat.LintRules(), compat.DiffRules()...) {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

// findingOutput is the JSON and YAML form of a finding.
type findingOutput struct {
	File     string `json:"file"`
	Element  string `json:"element"`
	Rule     string `json:"rule"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
	Previous bool   `json:"previous,omitempty"`
}

// printFindings writes findings per a.output.
func (a *app) printFindings(findings []compat.Finding) error {
	out := make([]findingOutput, 0, len(findings))
	for _, f := range findings {
		out = append(out, findingOutput{
			File: f.File, Element: string(f.Element), Rule: string(f.Rule),
			Message: f.Message, Fix: f.Fix, Previous: f.Previous,
		})
	}
	switch a.output {
	case "json":
		b, err := json.MarshalIndent(map[string]any{"findings": out}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.Out, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(map[string]any{"findings": out})
		if err != nil {
			return err
		}
		_, err = a.Out.Write(b)
		return err
	}
	if len(findings) == 0 {
		_, err := fmt.Fprintln(a.Out, "no compatibility rule broken")
		return err
	}
	for _, f := range findings {
		where := f.File
		if f.Previous {
			where += " (previous release)"
		}
		if _, err := fmt.Fprintf(a.Out, "%s: %s: %s\n  %s\n  fix: %s\n", where, f.Element, f.Rule, f.Message, f.Fix); err != nil {
			return err
		}
	}
	return nil
}
