package envoi

import "time"

// Claim is a worker's hold on a message: the message, and the queue's
// bookkeeping about this hold, which is no part of what the message is
// (no reader of a message sees it). The queue's store returns it when it
// claims a message and records the outcome against it.
type Claim struct {
	*Message
	// Token identifies this claim: only the holder of the message's
	// latest claim records an outcome (an older one gets EConflict); ""
	// records the outcome whatever the claim.
	Token string
	// LeaseUntil is when the claim lapses: the message is due again then.
	LeaseUntil time.Time
	// Unfinished counts the claims in a row that ended without an outcome
	// (the worker died or its lease lapsed mid-send); past the worker's
	// bound the message fails as delivery_abandoned. A recorded outcome
	// or a manual retry sets it back to 0.
	Unfinished int
}
