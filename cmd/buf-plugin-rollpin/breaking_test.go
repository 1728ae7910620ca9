package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The previous release of the API the recommended rule set is tried on.
const breakingPrev = `syntax = "proto3";
package acme.shop.v1;
import "rollpin/v1/options.proto";
option (rollpin.v1.api) = {version: "1.1"};

message Price {
  string currency = 1;
  int64 cents = 2;
}

message Order {
  string id = 1;
  Price price = 2;
  string coupon = 3 [deprecated = true];
  oneof delivery {
    string address = 4;
  }
  string note = 5;
}
`

// breakingCur is the previous release after edits, each old→new pair
// matching exactly once.
func breakingCur(t *testing.T, pairs ...string) string {
	t.Helper()
	src := breakingPrev
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(src, pairs[i]); n != 1 {
			t.Fatalf("edit %q matches %d times, want 1", pairs[i], n)
		}
		src = strings.Replace(src, pairs[i], pairs[i+1], 1)
	}
	return src
}

// readmeBreakingRules returns the rule set the README recommends for
// `buf breaking` (its buf.yaml example: "breaking:" then "use: [...]").
func readmeBreakingRules(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^breaking:\n  use: (\[[A-Z_, ]+\])$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no buf.yaml example with breaking: use: [...]")
	}
	return string(m[1])
}

// TestREADMEBreakingRuleSet runs real buf (pinned in tools/go.mod) with
// this plugin and the README's recommended breaking rules against both
// kinds of change: rollpin's correct workflow (a field removed after a
// release that deprecated it, its number and name reserved; a message moved
// to another file of the package; a field added with since) must pass, and
// changes that make an old peer misread a message on the wire or in JSON
// must fail.
func TestREADMEBreakingRuleSet(t *testing.T) {
	rules := readmeBreakingRules(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "buf-plugin-rollpin"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	options, err := os.ReadFile("../../proto/rollpin/v1/options.proto")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	module := func(files map[string]string) string {
		dir := t.TempDir()
		files["buf.yaml"] = "version: v2\nbreaking:\n  use: " + rules + "\nplugins:\n  - plugin: buf-plugin-rollpin\n"
		files["rollpin/v1/options.proto"] = string(options)
		for p, s := range files {
			p = filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	const shop = "acme/shop/v1/shop.proto"
	prev := module(map[string]string{shop: breakingPrev})
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  []string // rule IDs that must be reported; none: must pass
	}{
		{
			// One release doing all three: remove the field deprecated in
			// the previous release (number and name reserved), move a
			// message to another file of the package, add a field with since.
			name: "correct workflow",
			files: map[string]string{
				shop: breakingCur(t,
					"  string coupon = 3 [deprecated = true];\n", "  reserved 3;\n  reserved \"coupon\";\n",
					"message Price {\n  string currency = 1;\n  int64 cents = 2;\n}\n", "",
					`import "rollpin/v1/options.proto";`, "import \"rollpin/v1/options.proto\";\nimport \"acme/shop/v1/price.proto\";",
					`{version: "1.1"}`, `{version: "1.2"}`,
					"  string note = 5;\n", "  string note = 5;\n  bool gift = 6 [(rollpin.v1.field) = {since: \"1.2\"}];\n"),
				"acme/shop/v1/price.proto": "syntax = \"proto3\";\npackage acme.shop.v1;\nmessage Price {\n  string currency = 1;\n  int64 cents = 2;\n}\n",
			},
		},
		{
			// Wire and JSON breaks, one per field.
			name: "wire and JSON breaks",
			files: map[string]string{shop: breakingCur(t,
				"  string note = 5;\n", "",
				"    string address = 4;\n", "    string address = 4;\n    string note = 5;\n",
				"  string id = 1;\n", "  string id = 1 [json_name = \"orderId\"];\n",
				"  int64 cents = 2;\n", "  string cents = 2;\n",
				"  string coupon = 3 [deprecated = true];\n", "  string promo_code = 3;\n")},
			want: []string{
				"FIELD_SAME_ONEOF", "ROLLPIN_FIELD_SAME_ONEOF",
				"FIELD_SAME_JSON_NAME", "ROLLPIN_FIELD_SAME_JSON_NAME",
				"FIELD_WIRE_JSON_COMPATIBLE_TYPE", "ROLLPIN_FIELD_TYPE_UNCHANGED",
				"FIELD_SAME_NAME", "ROLLPIN_FIELD_NUMBER_NOT_REUSED",
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cur := module(tt.files)
			cmd := exec.Command("go", "tool", "-modfile=tools/go.mod", "buf", "breaking", cur, "--against", prev, "--error-format", "json")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "BUF_CACHE_DIR="+cache)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("buf breaking with use: %s fails a correct change: %v\n%s", rules, err, out.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("buf breaking with use: %s passes a wire/JSON break", rules)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), `"type":"`+w+`"`) {
					t.Errorf("buf breaking output lacks %s:\n%s", w, out.String())
				}
			}
		})
	}
}
