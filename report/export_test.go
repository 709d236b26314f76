package report

// LogoDecodes is the number of logos decoded so far.
func LogoDecodes() int64 { return logoDecodes.Load() }
