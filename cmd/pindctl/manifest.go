package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"sigs.k8s.io/yaml"

	"github.com/rollpin/rollpin/backport"
)

// maxDescriptorSet bounds the descriptor set pindctl reads.
const maxDescriptorSet = 256 << 20

func newManifestCmd(a *app) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "manifest [--descriptor-set FILE]",
		Short: "Print the track versions a binary (or a descriptor set) announces",
		Long: `manifest prints the track versions a binary announces to pind and its peers:
every proto package declaring option (rollpin.v1.api) = {version: "..."}.

With --descriptor-set FILE it reads a FileDescriptorSet (protoc
--descriptor_set_out --include_imports) or a buf image (buf build -o FILE;
binary, JSON, or gzip-compressed) and prints the manifest a binary built from
those files would announce. Without the flag it prints pindctl's own.

It does not contact pind.`,
		Example: `  buf build -o image.binpb && pindctl manifest --descriptor-set image.binpb`,
		Args:    exactArgs(0, "no arguments (use --descriptor-set FILE)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, from := protoregistry.GlobalFiles, "pindctl's own descriptors"
			if file != "" {
				var err error
				if files, err = a.readDescriptorSet(file); err != nil {
					return err
				}
				from = file
			}
			m, schemaErr := backport.ManifestOfFiles(files)
			if err := a.printManifest(m); err != nil {
				return err
			}
			if schemaErr != nil {
				return fmt.Errorf("the manifest of %s leaves out tracks whose declarations are invalid: %w; fix option (rollpin.v1.api) in those files", from, schemaErr)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "descriptor-set", "", "FileDescriptorSet or buf image to read (binary, JSON, .gz)")
	return cmd
}

// readDescriptorSet loads a FileDescriptorSet or buf image: binary or
// JSON, optionally gzip-compressed. A set that lacks some imports is still
// read (with a warning), since only file options matter for a manifest.
func (a *app) readDescriptorSet(path string) (*protoregistry.Files, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read descriptor set: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDescriptorSet+1))
	if err != nil {
		return nil, fmt.Errorf("read descriptor set %s: %w", path, err)
	}
	if len(data) > maxDescriptorSet {
		return nil, fmt.Errorf("descriptor set %s is larger than %d MiB", path, maxDescriptorSet>>20)
	}
	fds, err := parseDescriptorSet(data)
	if err != nil {
		return nil, fmt.Errorf("descriptor set %s: %w: give a FileDescriptorSet (protoc --descriptor_set_out) or a buf image (buf build -o)", path, err)
	}
	files, err := protodesc.NewFiles(fds)
	if err != nil {
		lenient, lerr := protodesc.FileOptions{AllowUnresolvable: true}.NewFiles(fds)
		if lerr != nil {
			return nil, fmt.Errorf("descriptor set %s: %w", path, lerr)
		}
		fmt.Fprintf(a.Err, "pindctl: warning: descriptor set %s is incomplete (%v); build it with --include_imports for an exact manifest\n", path, err)
		files = lenient
	}
	return files, nil
}

// parseDescriptorSet decodes a FileDescriptorSet or buf image from binary or
// JSON, gunzipping it first when it is compressed. Fields a buf image adds
// are ignored.
func parseDescriptorSet(data []byte) (*descriptorpb.FileDescriptorSet, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, maxDescriptorSet+1))
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		if len(data) > maxDescriptorSet {
			return nil, fmt.Errorf("larger than %d MiB uncompressed", maxDescriptorSet>>20)
		}
	}
	fds := &descriptorpb.FileDescriptorSet{}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, fds); err != nil {
			return nil, fmt.Errorf("not a JSON descriptor set: %w", err)
		}
		return fds, nil
	}
	if err := proto.Unmarshal(data, fds); err != nil {
		return nil, fmt.Errorf("not a binary descriptor set: %w", err)
	}
	if len(fds.GetFile()) == 0 {
		return nil, fmt.Errorf("no files in it")
	}
	return fds, nil
}

// manifestOutput is the JSON and YAML form of a manifest.
type manifestOutput struct {
	// Manifest is the canonical text, as pind and the rollpin-version header
	// carry it.
	Manifest string `json:"manifest"`
	// Tracks maps each track to its version.
	Tracks map[string]string `json:"tracks"`
}

// printManifest writes m per a.output.
func (a *app) printManifest(m backport.Manifest) error {
	out := manifestOutput{Manifest: m.String(), Tracks: map[string]string{}}
	for _, e := range m.Entries() {
		out.Tracks[e.Track] = e.Version.String()
	}
	switch a.output {
	case "json":
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.Out, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(out)
		if err != nil {
			return err
		}
		_, err = a.Out.Write(b)
		return err
	}
	if m.IsEmpty() {
		fmt.Fprintln(a.Err, "pindctl: no versioned track: no file declares option (rollpin.v1.api)")
	}
	tw := newTable(a.Out)
	row(tw, "TRACK", "VERSION")
	for _, e := range m.Entries() {
		row(tw, e.Track, e.Version.String())
	}
	return tw.Flush()
}
