package resultcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Stream is the output stream a chunk was written to.
type Stream byte

// The streams of a run.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

// Chunk is one write of the run to one stream.
type Chunk struct {
	Stream Stream
	Data   []byte
}

// Entry is a passing run's output, in the order it was written, and how
// long the run took.
type Entry struct {
	Chunks   []Chunk
	Duration time.Duration
	Created  time.Time
}

// Replay writes the output again, chunk by chunk in the original order,
// to stdout and stderr.
func (e *Entry) Replay(stdout, stderr io.Writer) error {
	for _, c := range e.Chunks {
		w := stdout
		if c.Stream == Stderr {
			w = stderr
		}
		if _, err := w.Write(c.Data); err != nil {
			return fmt.Errorf("replay cached output: %w", err)
		}
	}
	return nil
}

// size is the bytes of output the entry holds.
func (e *Entry) size() int64 {
	var n int64
	for _, c := range e.Chunks {
		n += int64(len(c.Data))
	}
	return n
}

// MaxEntryBytes is the most output one entry may hold: runs that print
// more are not cached.
const MaxEntryBytes = 16 << 20

// Recorder passes a run's output through to the real writers and records
// it for an Entry. Its writers are safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	stdout   io.Writer
	stderr   io.Writer
	chunks   []Chunk
	size     int64
	limit    int64
	overflow bool
}

// NewRecorder records up to limit bytes of output written through it to
// stdout and stderr.
func NewRecorder(stdout, stderr io.Writer, limit int64) *Recorder {
	return &Recorder{stdout: stdout, stderr: stderr, limit: limit}
}

// Stdout is the writer for the run's stdout.
func (r *Recorder) Stdout() io.Writer { return streamWriter{r, Stdout} }

// Stderr is the writer for the run's stderr.
func (r *Recorder) Stderr() io.Writer { return streamWriter{r, Stderr} }

type streamWriter struct {
	r *Recorder
	s Stream
}

// Write writes to the real writer and records what it took. It holds the
// recorder's lock across both, so the recorded order is the written one.
func (w streamWriter) Write(p []byte) (int, error) {
	r := w.r
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.stdout
	if w.s == Stderr {
		out = r.stderr
	}
	n, err := out.Write(p)
	if n > 0 && !r.overflow {
		if r.size+int64(n) > r.limit {
			r.overflow, r.chunks = true, nil
		} else {
			r.size += int64(n)
			if last := len(r.chunks) - 1; last >= 0 && r.chunks[last].Stream == w.s {
				r.chunks[last].Data = append(r.chunks[last].Data, p[:n]...)
			} else {
				r.chunks = append(r.chunks, Chunk{Stream: w.s, Data: bytes.Clone(p[:n])})
			}
		}
	}
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// Entry returns the recorded run as an Entry to store, or false when it
// must not be stored: the exit code is not 0, or the output exceeded the
// limit.
func (r *Recorder) Entry(exitCode int, d time.Duration) (*Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if exitCode != 0 || r.overflow {
		return nil, false
	}
	chunks := make([]Chunk, len(r.chunks))
	for i, c := range r.chunks {
		chunks[i] = Chunk{Stream: c.Stream, Data: bytes.Clone(c.Data)}
	}
	return &Entry{Chunks: chunks, Duration: d, Created: time.Now()}, true
}

// The file format of an entry:
//
//	"ktest.resultcache/1\n"
//	key (32 bytes)
//	duration in ns (uvarint), creation time in unix ns (varint)
//	number of chunks (uvarint), then per chunk: stream (1 byte: 1 or 2),
//	length (uvarint), data
//	sha256 of everything above (32 bytes)
//
// The key inside guards against a file renamed to another key's name,
// the checksum against truncation and corruption.
const magic = "ktest.resultcache/1\n"

// encode returns the file content of e under key.
func encode(key Key, e *Entry) []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	b.Write(key[:])
	b.Write(binary.AppendUvarint(nil, uint64(max(e.Duration, 0))))
	b.Write(binary.AppendVarint(nil, e.Created.UnixNano()))
	b.Write(binary.AppendUvarint(nil, uint64(len(e.Chunks))))
	for _, c := range e.Chunks {
		b.WriteByte(byte(c.Stream))
		b.Write(binary.AppendUvarint(nil, uint64(len(c.Data))))
		b.Write(c.Data)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

var errCorrupt = errors.New("corrupt cache entry")

// decode parses an entry file, checking it is whole and for key.
func decode(data []byte, key Key) (*Entry, error) {
	if len(data) < len(magic)+len(key)+sha256.Size || len(data) > MaxEntryBytes+1<<20 {
		return nil, errCorrupt
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return decodeBody(body, key)
}

// decodeBody parses an entry file without its checksum.
func decodeBody(body []byte, key Key) (*Entry, error) {
	rest, ok := bytes.CutPrefix(body, []byte(magic))
	if !ok || len(rest) < len(key) || !bytes.Equal(rest[:len(key)], key[:]) {
		return nil, fmt.Errorf("%w: wrong version or key", errCorrupt)
	}
	rest = rest[len(key):]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 || n != len(binary.AppendUvarint(nil, v)) { // overlong encodings are not ours
			return 0, false
		}
		rest = rest[n:]
		return v, true
	}
	dur, ok1 := uvarint()
	created, n := binary.Varint(rest)
	if !ok1 || n <= 0 || n != len(binary.AppendVarint(nil, created)) || dur > 1<<62 {
		return nil, errCorrupt
	}
	rest = rest[n:]
	count, ok := uvarint()
	if !ok || count > uint64(len(rest)) {
		return nil, errCorrupt
	}
	e := &Entry{Duration: time.Duration(dur), Created: time.Unix(0, created)}
	for range count {
		if len(rest) < 1 || (rest[0] != byte(Stdout) && rest[0] != byte(Stderr)) {
			return nil, errCorrupt
		}
		s := Stream(rest[0])
		rest = rest[1:]
		size, ok := uvarint()
		if !ok || size > uint64(len(rest)) {
			return nil, errCorrupt
		}
		e.Chunks = append(e.Chunks, Chunk{Stream: s, Data: bytes.Clone(rest[:size])})
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errCorrupt)
	}
	return e, nil
}
