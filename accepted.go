package envoi

// Accepted is a message as acceptance hands it to the store: the message,
// its composed bytes and the fingerprint of its request. The bytes are
// stored beside the message (EML reads them back) and the fingerprint
// serves only to compare a reused idempotency key; neither is part of what
// a message is to its readers.
type Accepted struct {
	*Message
	// EML is the composed message, stored in the same transaction as the
	// message, so what is sent (and re-sent after a crash) is exactly what
	// was accepted; nil stores none.
	EML []byte
	// RequestHash is the fingerprint of the request: the same idempotency
	// key with another fingerprint is EIdempotencyConflict.
	RequestHash string
}
