package cache

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Reader processes take LOCK_SH, hash the image and check it against the
// metadata beside it, while this process replaces the entry with different
// images under LOCK_EX. No reader may ever see a missing, torn or mixed entry.
func TestStressReadersWhileReplacing(t *testing.T) {
	duration := 3 * time.Second
	if testing.Short() {
		duration = time.Second
	}
	c := openCache(t)
	dir := t.TempDir()
	var imgs, sums []string
	for i := range 3 {
		p, s := makeImage(t, dir, "img"+itoa(i), (128+64*i)<<10, uint64(40+i))
		imgs, sums = append(imgs, p), append(sums, s)
	}
	const key = "stress-6.1"
	if _, err := c.Store(t.Context(), key, StoreSource{Image: imgs[0], Metadata: testMetadata()}); err != nil {
		t.Fatal(err)
	}
	var readers []*child
	for range 3 {
		r := startChild(t, "reader", envRoot+"="+c.Root, envKey+"="+key,
			envHashes+"="+strings.Join(sums, ","), envDuration+"="+duration.String())
		readers = append(readers, r)
	}
	for _, r := range readers {
		r.expect(t, "started")
	}
	stores := 0
	for end := time.Now().Add(duration); time.Now().Before(end); stores++ {
		if _, err := c.Store(t.Context(), key, StoreSource{Image: imgs[stores%len(imgs)], Metadata: testMetadata()}); err != nil {
			t.Fatalf("store %d: %v", stores, err)
		}
	}
	total := 0
	for i, r := range readers {
		var rep readerReport
		line := r.next(t, 2*duration+30*time.Second)
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("reader %d printed %q: %v", i, line, err)
		}
		r.wait(t)
		for _, v := range rep.Violations {
			t.Errorf("reader %d: %s", i, v)
		}
		if rep.Reads == 0 {
			t.Errorf("reader %d never got the lock", i)
		}
		total += rep.Reads
	}
	if stores < 2 {
		t.Errorf("writer completed only %d replacements", stores)
	}
	t.Logf("%d replacements, %d locked reads in %v", stores, total, duration)
	e, err := c.Lookup(key)
	if err != nil {
		t.Fatal(err)
	}
	checkEntry(t, e, sums...)
	if d := debrisNames(t, c.Root); len(d) != 0 {
		t.Errorf("debris: %v", d)
	}
}
