package vault

import "time"

// Clock supplies the current time. Retention, authorisation expiry and the
// custody log's timestamps all read time through it, so tests can move time
// forward without waiting.
type Clock interface {
	Now() time.Time
}

// SystemClock is the Clock backed by the host's wall clock.
type SystemClock struct{}

// Now returns the current time in UTC; custody entries are always recorded in
// UTC so that the same instant always has the same textual form in the log.
func (SystemClock) Now() time.Time { return time.Now().UTC() }
