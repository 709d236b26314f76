package main

import (
	"io"
	"log/slog"
	"strings"
)

// newLogger returns the structured logger of every command. Attributes whose
// key names a secret are redacted whatever their value, as a second line of
// defence: code must not log secrets in the first place.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: redact}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

var secretWords = []string{"password", "secret", "token", "authorization", "master_key", "masterkey", "api_key", "apikey", "verifier"}

func redact(groups []string, a slog.Attr) slog.Attr {
	key := strings.ToLower(a.Key)
	for _, w := range secretWords {
		if strings.Contains(key, w) && a.Value.Kind() == slog.KindString && a.Value.String() != "" {
			return slog.String(a.Key, "[redacted]")
		}
	}
	return a
}
