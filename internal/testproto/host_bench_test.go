package testproto

import "testing"

// What a snapshot costs (it is taken for every contention banner and
// sidecar). Results: /work/notes/preflight-results.md.
func BenchmarkTakeHostSnapshot(b *testing.B) {
	for b.Loop() {
		if h := TakeHostSnapshot(); len(h.Unreadable) > 0 {
			b.Fatal(h.Unreadable)
		}
	}
}

func BenchmarkHostSnapshotSummary(b *testing.B) {
	h := TakeHostSnapshot()
	for b.Loop() {
		_ = h.Summary()
	}
}
