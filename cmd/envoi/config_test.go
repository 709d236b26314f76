package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestConfigPrecedence checks flag > environment > file > default for
// every setting of the CLI and configuration contract.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "envoi.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:9001\ndata_dir: /from/file\npublic_url: https://file.example/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ENVOI_DATA_DIR": "/from/env", "ENVOI_DATABASE_URL": "postgres://env/db", "ENVOI_CONFIG": file}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	resolve := storageFlags(fs, func(k string) string { return env[k] })
	if err := fs.Parse([]string{"--database-url", "postgres://flag/db"}); err != nil {
		t.Fatal(err)
	}
	got, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: "127.0.0.1:9001", DataDir: "/from/env", DatabaseURL: "postgres://flag/db",
		PublicURL: "https://file.example", LogLevel: "info", LogFormat: "text", MessageIDDomain: "file.example",
	}
	if *got != want {
		t.Errorf("got %+v\nwant %+v", *got, want)
	}

	t.Run("Defaults", func(t *testing.T) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		resolve := storageFlags(fs, func(string) string { return "" })
		_ = fs.Parse(nil)
		got, err := resolve()
		if err != nil {
			t.Fatal(err)
		}
		if got.MessageIDDomain != "envoi.invalid" {
			t.Errorf("Message-ID domain for a loopback public URL = %q", got.MessageIDDomain)
		}
		if got.Listen != "127.0.0.1:8025" || got.DataDir != "./envoi-data" || got.DatabaseURL != "" || got.MasterKey != "" || got.PublicURL != "http://127.0.0.1:8025" {
			t.Errorf("defaults: %+v", *got)
		}
	})

	t.Run("ErrUnknownKey", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		_ = os.WriteFile(bad, []byte("lisen: x\n"), 0o600)
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		resolve := storageFlags(fs, func(string) string { return "" })
		_ = fs.Parse([]string{"--config", bad})
		if _, err := resolve(); err == nil {
			t.Error("a misspelt key in the configuration file was accepted")
		}
	})
}
