package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/regularfile"
)

const kernelAddUsage = `usage: ktest kernel add IMAGE [--key KEY] [--version VERSION] [--vmlinux PATH]

Validates IMAGE (an x86 bzImage, an arm64 Image or a gzip-wrapped arm64
Image, e.g. arch/x86/boot/bzImage or a distro /boot/vmlinuz-*), reads its
version from the bzImage header, and stores it in the kernel cache. Prints
the entry's key, and only the key, on stdout.

The default key is VERSION-image-ARCH-SHA8, e.g.
6.1.0-56-cloud-amd64-image-x86_64-0123abcd, where VERSION is the release (the
first word of the header's version string) and SHA8 the first 8 hex digits of
the image's SHA-256. The entry's metadata.json is ktstr's format with source
{"type":"local","source_tree_path":<IMAGE's directory>,"git_hash":null}, plus
"sha256" and "original_path" (IMAGE, absolute), which ktstr ignores.

Adding the same image again under the same key does nothing (the recorded
SHA-256, version and vmlinux are compared) and prints the key. Adding a
different image under an existing key replaces the entry atomically (a note
says so on stderr), after waiting up to 60s for runs using the old one.

Examples:
  ktest kernel add arch/x86/boot/bzImage
  ktest kernel add /boot/vmlinuz-$(uname -r) --key host-kernel
  ktest kernel add arch/arm64/boot/Image --version 6.12.0 --vmlinux vmlinux
  KTSTR_TEST_KERNEL=$(ktest kernel path $(ktest kernel add ./bzImage)) go test ./...
`

// addRequest is a parsed `ktest kernel add`.
type addRequest struct {
	image   string // absolute
	key     string // "" = default
	version string // "" = from the header
	vmlinux string // absolute, "" = none
}

func runKernelAdd(ctx context.Context, args []string, stdio IO) error {
	f := newSubFlags("kernel add")
	var req addRequest
	f.stringFlag(&req.key, "key", "store under `KEY` instead of VERSION-image-ARCH-SHA8", "a cache key: letters, digits and . _ + -")
	f.stringFlag(&req.version, "version", "record `VERSION` (required for images without a version string, e.g. arm64)", "a kernel version such as 6.9.0")
	f.stringFlag(&req.vmlinux, "vmlinux", "also store the uncompressed ELF vmlinux at `PATH`", "the path of a vmlinux ELF file")
	pos, help, err := f.parse(args)
	if err != nil {
		return err
	}
	if help {
		return f.printUsage(stdio.Stdout, kernelAddUsage)
	}
	// An explicit --key "" (an unset shell variable, usually) is an error,
	// not a request for the default key.
	if f.isSet("key") {
		if err := cache.ValidateKey(req.key); err != nil {
			return fmt.Errorf("kernel add: --key: %w", err)
		}
	}
	switch len(pos) {
	case 0:
		return errors.New("kernel add: no IMAGE given, e.g. ktest kernel add arch/x86/boot/bzImage")
	case 1:
	default:
		return fmt.Errorf("kernel add: takes one IMAGE, got %d arguments (%s); add images one at a time", len(pos), strings.Join(pos, " "))
	}
	if req.image, err = filepath.Abs(pos[0]); err != nil {
		return fmt.Errorf("kernel add: resolve %s: %w", pos[0], err)
	}
	if req.vmlinux != "" {
		if req.vmlinux, err = filepath.Abs(req.vmlinux); err != nil {
			return fmt.Errorf("kernel add: resolve --vmlinux: %w", err)
		}
	}
	return addKernel(ctx, req, stdio)
}

// addKernel validates everything it can before opening the cache, so that a
// bad image or flag leaves no trace (not even a created cache root).
func addKernel(ctx context.Context, req addRequest, stdio IO) error {
	info, err := kernelimage.Inspect(req.image)
	if err != nil {
		return hint.Wrap(fmt.Errorf("kernel add: %w", err),
			"give a kernel boot image: arch/x86/boot/bzImage, arch/arm64/boot/Image or a distro /boot/vmlinuz-*")
	}
	version := info.Release
	if req.version != "" {
		if err := checkVersionFlag(req.version); err != nil {
			return err
		}
		version = req.version
	}
	if version == "" {
		return fmt.Errorf("kernel add: %s (%s) has no usable version string in its header (arm64 Images carry none); pass --version, e.g. --version 6.9.0", req.image, info.Format)
	}
	if req.vmlinux != "" {
		if err := checkVmlinux(req.vmlinux); err != nil {
			return err
		}
	}
	if req.key != "" {
		if err := cache.ValidateKey(req.key); err != nil {
			return fmt.Errorf("kernel add: --key: %w", err)
		}
	}
	sum, err := fileSHA256(req.image)
	if err != nil {
		return fmt.Errorf("kernel add: %w", err)
	}
	key := req.key
	if key == "" {
		key = fmt.Sprintf("%s-image-%s-%s", version, info.Arch, sum[:8])
		if err := cache.ValidateKey(key); err != nil {
			return hint.Wrap(fmt.Errorf("kernel add: the version %q does not make a valid key: %w", version, err),
				"pass --key KEY, or --version with only letters, digits and . _ + -")
		}
	}

	c, err := openKernelCache(true)
	if err != nil {
		return err
	}
	old, lerr := c.Lookup(key)
	switch {
	case lerr == nil && sameImage(old, sum, version, req.vmlinux != ""):
		fmt.Fprintf(stdio.Stderr, "ktest: %s is already cached in %s with this image (sha256 %s); nothing to do\n", key, c.Root, sum[:12])
		_, err := fmt.Fprintln(stdio.Stdout, key)
		return err
	case lerr == nil:
		fmt.Fprintf(stdio.Stderr, "ktest: note: replacing cache entry %s (%s) with %s (%s)\n", key, describeOld(old), req.image, describeNew(sum, version))
	case errors.Is(lerr, cache.ErrCorrupt):
		fmt.Fprintf(stdio.Stderr, "ktest: note: replacing corrupt cache entry %s (%s: %s)\n", key, old.Problem.Kind, old.Problem.Reason)
	case !errors.Is(lerr, cache.ErrNotFound):
		return fmt.Errorf("kernel add: %w", lerr)
	}

	meta := cache.Metadata{
		Version: &version,
		// A prebuilt image is "local" to ktstr: built outside the cache
		// from files on this machine. The image's directory stands in for
		// the source tree (ktstr only displays it); no git hash is known.
		Source:    cache.Source{Type: cache.SourceLocal, SourceTreePath: cache.StringPtr(filepath.Dir(req.image))},
		Arch:      info.Arch,
		ImageName: cache.DefaultImageName(info.Arch),
	}
	if err := meta.SetExtraString(cache.ExtraSHA256, sum); err != nil {
		return err
	}
	if err := meta.SetExtraString(cache.ExtraOriginalPath, req.image); err != nil {
		return err
	}
	// Store hashes what it copied and refuses a mismatch with sum, so an
	// image rewritten since we hashed it is not cached under a stale key.
	if _, err := c.Store(ctx, key, cache.StoreSource{Image: req.image, Vmlinux: req.vmlinux, Metadata: meta}); err != nil {
		var busy *cache.LockTimeoutError
		if errors.As(err, &busy) {
			return hint.Wrap(fmt.Errorf("kernel add: %w", err), "runs are still using this entry; `ktest locks` shows them: retry when they finish")
		}
		return hint.Wrap(fmt.Errorf("kernel add: %w", err), cacheRootHint)
	}
	fmt.Fprintf(stdio.Stderr, "ktest: added %s (version %s, %s, %s) to %s\n", key, version, info.Arch, humanBytes(info.Size), c.Root)
	_, err = fmt.Fprintln(stdio.Stdout, key)
	return err
}

// sameImage reports whether the existing entry already holds this image:
// the same recorded SHA-256 and version, and a vmlinux when one is being
// added. (Lookup has already checked that the image file is present.)
func sameImage(old cache.Entry, sum, version string, wantVmlinux bool) bool {
	m := old.Metadata
	if m == nil {
		return false
	}
	oldSum, ok := m.ExtraString(cache.ExtraSHA256)
	if !ok || oldSum != sum {
		return false
	}
	if m.Version == nil || *m.Version != version {
		return false
	}
	return !wantVmlinux || m.HasVmlinux
}

func describeOld(e cache.Entry) string {
	m := e.Metadata
	s, _ := m.ExtraString(cache.ExtraSHA256)
	return describeNew(s, strOrDash(m.Version))
}

func describeNew(sum, version string) string {
	if len(sum) > 12 {
		sum = sum[:12]
	}
	if sum == "" {
		sum = "unknown"
	}
	return fmt.Sprintf("version %s, sha256 %s", version, sum)
}

// checkVersionFlag accepts one printable word: the version is matched by
// `ktest kernel path 6.1` and becomes part of the default key.
func checkVersionFlag(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("kernel add: invalid value %q for --version: not UTF-8; want a kernel version such as 6.9.0", v)
	}
	for _, r := range v {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("kernel add: invalid value %q for --version: want one word without spaces or control characters, such as 6.9.0 or 6.1.0-56-cloud-amd64", v)
		}
	}
	if len(v) > cache.MaxKeyLen {
		return fmt.Errorf("kernel add: invalid value for --version: %d bytes long, want a kernel version such as 6.9.0", len(v))
	}
	return nil
}

// checkVmlinux refuses a --vmlinux that is not an ELF file: the usual
// mistake is passing the compressed image twice. A FIFO or device is
// refused before anything could block on it.
func checkVmlinux(path string) error {
	f, _, err := regularfile.Open(path)
	var nr *regularfile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return fmt.Errorf("kernel add: --vmlinux %s; give the vmlinux ELF from the kernel build tree", nr.Error())
	case err != nil:
		return fmt.Errorf("kernel add: --vmlinux: %w", err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, []byte("\x7fELF")) {
		return fmt.Errorf("kernel add: --vmlinux %s is not an ELF file; give the uncompressed vmlinux from the kernel build tree, not the boot image", path)
	}
	return nil
}

// fileSHA256 returns the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, _, err := regularfile.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
