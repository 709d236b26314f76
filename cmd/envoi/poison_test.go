package main_test

import (
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
)

// TestPoisonMessageAbandoned: envoi serve, a real process, dies with
// SIGKILL in the middle of sending one message, every time it is started
// again — as a message that crashes the process would make it. After
// --queue-max-unfinished such sends (2 here, through its environment
// variable; 3 by default) the next claim fails the message
// as delivery_abandoned without sending it again, it stays flagged as a
// possible duplicate, and the service sends other mail.
func TestPoisonMessageAbandoned(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it twice")
	}
	bin := buildEnvoi(t)
	const maxUnfinished = 2
	c, e := startChild(t, bin, nil, []string{"ENVOI_QUEUE_LEASE=3s", "ENVOI_QUEUE_MAX_UNFINISHED=2"}, false)
	server := e.SMTP
	// The server never greets: each send of the message is under way, and
	// stays so, when the process is killed, well within its lease (so the
	// claims without an outcome are the kills', not a lapsed lease's).
	server.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: time.Hour})
	var m queuedMessage
	e.MustDo(202, "POST", "/v1/messages", blRequest("client@example.org"), &m)

	for i := 1; i <= maxUnfinished; i++ {
		deadline := time.Now().Add(60 * time.Second)
		for server.Struck(testmail.SMTPFaultSlow) < i && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := server.Struck(testmail.SMTPFaultSlow); got != i {
			t.Fatalf("send %d: the server saw %d connections\n%s", i, got, c.logs.String())
		}
		c.kill()
		c.start()
	}

	got := e.waitStatus(m.ID, envoi.StatusFailed, 60*time.Second)
	if got.Status != envoi.StatusFailed || got.Error == nil || got.Error.Code != envoi.EDeliveryAbandoned {
		t.Fatalf("after %d sends cut by a crash: %s, want failed delivery_abandoned\n%s", maxUnfinished, fmtJSON(got), c.logs.String())
	}
	if got.Duplicates != maxUnfinished || got.Attempts != maxUnfinished {
		t.Errorf("%s: want %d attempts and as many possible duplicates", fmtJSON(got), maxUnfinished)
	}
	if n := server.Struck(testmail.SMTPFaultSlow); n != maxUnfinished {
		t.Errorf("the abandoned message was tried again: %d connections", n)
	}

	// The service is not stuck: other mail goes out.
	server.Heal()
	var next queuedMessage
	e.MustDo(200, "POST", "/v1/messages?wait=30s", blRequest("other@example.org"), &next)
	if next.Status != envoi.StatusSent {
		t.Errorf("the next message: %s, want sent", fmtJSON(next))
	}
}
