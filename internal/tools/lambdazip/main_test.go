package main

import (
	"archive/zip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritePacksTheBinaryAsBootstrapAndTheConfig(t *testing.T) {
	dir := t.TempDir()
	bin, cfg, extra := filepath.Join(dir, "gatekeeper"), filepath.Join(dir, "prod.yaml"), filepath.Join(dir, "notes.txt")
	for p, data := range map[string]string{bin: "binary", cfg: "containers: {}\n", extra: "x"} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "dist", "gatekeeper.zip")
	if err := write(out, bin, cfg, []string{extra}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = zr.Close() }()
	got := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		_ = rc.Close()
		got[f.Name] = string(b)
		if f.Name == "bootstrap" && f.Mode().Perm() != 0o755 {
			t.Errorf("bootstrap mode %v, want 0755: Lambda could not run it", f.Mode())
		}
	}
	want := map[string]string{"bootstrap": "binary", "deployer.yaml": "containers: {}\n", "notes.txt": "x"}
	if len(got) != len(want) {
		t.Fatalf("zip holds %v, want %v", got, want)
	}
	for name, data := range want {
		if got[name] != data {
			t.Errorf("%s = %q, want %q", name, got[name], data)
		}
	}
}

func TestWriteNamesAMissingConfig(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap-src")
	if err := os.WriteFile(bin, []byte("b"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.zip")
	err := write(out, bin, filepath.Join(dir, "missing.yaml"), nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("error %v, want the missing configuration named", err)
	}
	// Nothing that looks deployable is left behind.
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Fatalf("left in the output directory: %v", left)
	}
}
