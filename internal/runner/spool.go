package runner

import (
	"io"
	"os"
)

// spoolMemory is how much of a package's held output stays in memory; the
// rest goes to a temp file. go test itself holds a package's output in
// memory (and go test -json twice over), so a suite that prints a lot
// should not cost ktest that much again.
const spoolMemory = 1 << 20

// spool holds the output of one package until it is the package's turn to
// print: in memory up to spoolMemory, then in an unlinked temp file. If
// no temp file can be made, it keeps everything in memory.
type spool struct {
	mem  []byte
	file *os.File // nil until the output outgrows mem
}

func (s *spool) write(text string) {
	if s.file == nil && len(s.mem)+len(text) > spoolMemory {
		if f, err := os.CreateTemp("", "ktest-output-*"); err == nil {
			os.Remove(f.Name()) // unlinked: the fd is all ktest needs
			if _, err := f.Write(s.mem); err == nil {
				s.file, s.mem = f, nil
			} else {
				f.Close()
			}
		}
	}
	if s.file != nil {
		if _, err := io.WriteString(s.file, text); err == nil {
			return
		}
		// A full disk: keep the rest in memory, after what the file has.
		s.mem = append(s.readBack(), text...)
		return
	}
	s.mem = append(s.mem, text...)
}

// empty reports whether nothing is held.
func (s *spool) empty() bool { return s.file == nil && len(s.mem) == 0 }

// writeTo writes what is held to w and empties the spool.
func (s *spool) writeTo(w io.Writer) error {
	var err error
	if s.file != nil {
		if _, err = s.file.Seek(0, io.SeekStart); err == nil {
			_, err = io.Copy(w, s.file)
		}
		s.file.Close()
		s.file = nil
	}
	if err == nil && len(s.mem) > 0 {
		_, err = w.Write(s.mem)
	}
	s.mem = s.mem[:0]
	if cap(s.mem) > spoolMemory {
		s.mem = nil
	}
	return err
}

// reset drops what is held.
func (s *spool) reset() {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.mem = nil
}

// readBack returns the file's content and drops the file.
func (s *spool) readBack() []byte {
	var b []byte
	if _, err := s.file.Seek(0, io.SeekStart); err == nil {
		b, _ = io.ReadAll(s.file)
	}
	s.file.Close()
	s.file = nil
	return b
}
