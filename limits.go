package envoi

import "time"

// Limits are a provider's sending limits for one mailbox (the identity and
// server a message is sent through), set per flow; 0 is no limit. The
// queue takes a message only when its mailbox has room in all of them,
// counted across every instance sharing the database.
type Limits struct {
	// MessagesPerMinute: messages handed to the provider in any minute
	// (the flow's rate_per_minute is the same setting).
	MessagesPerMinute int `json:"messages_per_minute,omitempty" yaml:"messages_per_minute"`
	// Connections: messages being sent at once (each on its own
	// connection); 0 is DefaultConnections.
	Connections int `json:"connections,omitempty" yaml:"connections"`
	// MessagesPerDay: messages in a rolling 24 hours.
	MessagesPerDay int `json:"messages_per_day,omitempty" yaml:"messages_per_day"`
	// RecipientsPerDay: recipients (To, Cc and Bcc) in a rolling 24 hours.
	RecipientsPerDay int `json:"recipients_per_day,omitempty" yaml:"recipients_per_day"`
	// RecipientsPerMessage: recipients of one message, refused at
	// acceptance past it.
	RecipientsPerMessage int `json:"recipients_per_message,omitempty" yaml:"recipients_per_message"`
}

// DefaultConnections is how many messages of one mailbox are sent at once
// when its flow sets no connections limit.
const DefaultConnections = 2

// QuotaWindow is the rolling window of the daily limits.
const QuotaWindow = 24 * time.Hour

// MaxConnections is the most connections a flow may set per mailbox.
const MaxConnections = 100

// EffectiveConnections returns the connections limit, DefaultConnections
// when none is set.
func (l Limits) EffectiveConnections() int {
	if l.Connections <= 0 {
		return DefaultConnections
	}
	return l.Connections
}

// fill sets the zero fields of l from def.
func (l *Limits) fill(def Limits) {
	for _, p := range []struct {
		v *int
		d int
	}{
		{&l.MessagesPerMinute, def.MessagesPerMinute}, {&l.Connections, def.Connections},
		{&l.MessagesPerDay, def.MessagesPerDay}, {&l.RecipientsPerDay, def.RecipientsPerDay},
		{&l.RecipientsPerMessage, def.RecipientsPerMessage},
	} {
		if *p.v == 0 {
			*p.v = p.d
		}
	}
}

func (l Limits) validate() error {
	for _, p := range []struct {
		field string
		v     int
	}{
		{"limits.messages_per_minute", l.MessagesPerMinute}, {"limits.connections", l.Connections},
		{"limits.messages_per_day", l.MessagesPerDay}, {"limits.recipients_per_day", l.RecipientsPerDay},
		{"limits.recipients_per_message", l.RecipientsPerMessage},
	} {
		if p.v < 0 {
			return FieldError(EInvalidFlowData, p.field, "must not be negative (0 is no limit)")
		}
	}
	if l.Connections > MaxConnections {
		return FieldError(EInvalidFlowData, "limits.connections", "%d connections; at most %d", l.Connections, MaxConnections).
			WithDetail("limit", MaxConnections)
	}
	return nil
}

// SyncRate makes rate_per_minute and limits.messages_per_minute one
// setting: limits.messages_per_minute wins when both are set.
func (f *AuthFlow) SyncRate() {
	if f.Limits.MessagesPerMinute > 0 {
		f.RatePerMinute = f.Limits.MessagesPerMinute
	} else {
		f.Limits.MessagesPerMinute = f.RatePerMinute
	}
}
