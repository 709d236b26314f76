package report

// LogoDecodes is the number of logos decoded so far.
func LogoDecodes() int64 { return logoDecodes.Load() }

// Parses is the number of stored templates l has parsed.
func (l *Library) Parses() int64 { return l.parses.Load() }
