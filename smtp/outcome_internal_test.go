package smtp

import (
	"strings"
	"testing"
)

func TestQueueID(t *testing.T) {
	tests := []struct{ reply, want string }{
		{"250 2.0.0 Ok: queued as 4Zk1xY0abcz9", "4Zk1xY0abcz9"},
		{"250 2.0.0 Ok: queued as <4Zk1xY0abcz9>", "4Zk1xY0abcz9"},
		{"250 2.0.0 OK  1767700000 d2-20020a170902e1c2b0-abc.123 - gsmtp", "d2-20020a170902e1c2b0-abc.123"},
		{"250 2.0.0 OK: queued", ""},
		{"250 2.0.0 OK <1@envoi.test> [Hostname=AM0PR01MB1234.eurprd01.prod.example]", ""},
		{"250 2.0.0 Ok: queued as id;rm -rf", ""},
		{"250 2.0.0 Ok: queued as " + strings.Repeat("a", 200), ""},
		{"250", ""},
	}
	for _, tt := range tests {
		if got := queueID(tt.reply); got != tt.want {
			t.Errorf("queueID(%q) = %q, want %q", tt.reply, got, tt.want)
		}
	}
}

func TestReplyText(t *testing.T) {
	if got := replyText(250, "2.0.0 first\nsecond\r\x1b[31m"); got != "250 2.0.0 first second[31m" {
		t.Errorf("multiline with control characters: %q", got)
	}
	if got := replyText(250, strings.Repeat("é", 1000)); len(got) > maxReplyText {
		t.Errorf("%d bytes kept, want at most %d", len(got), maxReplyText)
	}
	if got := replyText(250, ""); got != "250" {
		t.Errorf("empty text: %q", got)
	}
}
