package resultcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ktest-dev/ktest/internal/regularfile"
)

// Key identifies a run's inputs: the sha256 of their canonical encoding.
type Key [sha256.Size]byte

// String is the key in hex, the entry's file name.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Shape is the guest's shape as far as it can change a test's result.
type Shape struct {
	CPUs     int
	MemoryMB int64
	Modules  []string
	Setup    []string
	Accel    string // "kvm" or "tcg"
	// Extra is anything else the caller wants in the key ("transport=virtiofs").
	Extra []string
}

// Inputs are what a test binary's run depends on.
type Inputs struct {
	// Binary is the test binary's path; its content is hashed.
	Binary string
	// KernelKey is the kernel's cache key, KernelHash its image's hash.
	KernelKey, KernelHash string
	// Args are the binary's arguments (without the binary itself), in order.
	Args []string
	// Dir is the working directory.
	Dir string
	// Env is the environment (KEY=VALUE). VolatileEnv names are left out
	// and the rest sorted, so order does not matter.
	Env []string
	// Shape is the guest's.
	Shape Shape
}

// VolatileEnv are the environment variables left out of the key: they
// differ on every run by construction, without changing what a test does.
// KTEST_SIDECAR_DIR and KTEST_RUN_ID name the run's sidecar directory
// (so a replayed run writes no sidecar of its own), and KTEST_VM_CONFIG
// carries the guest's shape, keyed as Inputs.Shape instead (its --vm-jobs
// changes no result).
var VolatileEnv = []string{"KTEST_SIDECAR_DIR", "KTEST_RUN_ID", "KTEST_VM_CONFIG"}

// keyVersion changes when the key's encoding or meaning does.
const keyVersion = "ktest.resultcache.key/1"

// Key hashes the binary and returns the inputs' key.
func (in Inputs) Key() (Key, error) {
	bin, err := hashFile(in.Binary)
	if err != nil {
		return Key{}, fmt.Errorf("hash test binary: %w", err)
	}
	return in.keyWithBinaryHash(bin), nil
}

// keyWithBinaryHash is Key with the binary already hashed.
func (in Inputs) keyWithBinaryHash(bin string) Key {
	env := make([]string, 0, len(in.Env))
	for _, kv := range in.Env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(VolatileEnv, name) {
			env = append(env, kv)
		}
	}
	slices.Sort(env)
	canon := struct {
		Version    string   `json:"v"`
		Binary     string   `json:"binary_sha256"`
		KernelKey  string   `json:"kernel_key"`
		KernelHash string   `json:"kernel_hash"`
		Args       []string `json:"args"`
		Dir        string   `json:"dir"`
		Env        []string `json:"env"`
		Shape      Shape    `json:"shape"`
	}{keyVersion, bin, in.KernelKey, in.KernelHash, nonNil(in.Args), in.Dir, env, in.Shape}
	canon.Shape.Modules, canon.Shape.Setup, canon.Shape.Extra = nonNil(in.Shape.Modules), nonNil(in.Shape.Setup), nonNil(in.Shape.Extra)
	data, err := json.Marshal(canon)
	if err != nil {
		panic(err) // strings and ints only
	}
	return sha256.Sum256(data)
}

// nonNil makes nil and empty slices encode alike.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// hashFile returns the hex sha256 of a regular file's content.
func hashFile(path string) (string, error) {
	f, _, err := regularfile.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close() // read-only
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
