package main

import (
	"os"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/rollpin/rollpin/internal/buildinfo"
)

func main() {
	if buildinfo.PrintVersion("protoc-gen-go-rollpin", os.Args[1:], os.Stdout) {
		return
	}
	protogen.Options{}.Run(run)
}

// run generates the code of every file gen asks for.
func run(gen *protogen.Plugin) error {
	gen.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL)
	s, err := newSchema(gen)
	if err != nil {
		return err
	}
	for _, f := range gen.Files {
		if !f.Generate {
			continue
		}
		if err := s.generateFile(gen, f); err != nil {
			return err
		}
	}
	return nil
}
