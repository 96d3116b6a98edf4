package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
)

// TestRun checks the command line: what run refuses, and that it stops
// cleanly when its context ends.
func TestRun(t *testing.T) {
	env := map[string]string{"VIGIL_SERVER_SECRET": "s"}
	getenv := func(k string) string { return env[k] }
	noSecret := func(string) string { return "" }
	tests := []struct {
		name    string
		args    []string
		getenv  func(string) string
		wantErr string // "" for success
	}{
		{"no secret", []string{"-addr", "127.0.0.1:0"}, noSecret, "VIGIL_SERVER_SECRET"},
		{"extra argument", []string{"-addr", "127.0.0.1:0", "extra"}, getenv, "unexpected arguments"},
		{"bad Vigil URL", []string{"-addr", "127.0.0.1:0", "-vigil-url", "localhost:8080"}, getenv, "VigilURL"},
		{"help", []string{"-h"}, getenv, flag.ErrHelp.Error()},
		{"serves until cancelled", []string{"-addr", "127.0.0.1:0"}, getenv, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // run returns as soon as it is serving
			var stderr bytes.Buffer
			err := run(ctx, tt.args, tt.getenv, &stderr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("run(%q) = %v, want nil\n%s", tt.args, err, stderr.String())
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
			if tt.wantErr == "" && !strings.Contains(stderr.String(), "listening") {
				t.Errorf("no listening line:\n%s", stderr.String())
			}
		})
	}
}
