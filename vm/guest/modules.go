package guest

import (
	"path/filepath"

	"github.com/ktest-dev/ktest/internal/modload"
)

// LoadModule loads the kernel module name, and the modules it depends on
// first, like modprobe: name is a module name ("dummy", "nf-tables" and
// "nf_tables" alike) or an alias ("rtnl-link-dummy", "fs-overlay"). It
// reads modules.dep, modules.alias and modules.builtin in
// /lib/modules/$(uname -r), as depmod writes them (ktest kernel fetch
// generates them for the kernels it stores). A module that is built in or
// already loaded is not an error. Modules compressed with xz, zstd or gzip
// are handed to the kernel as they are when it can decompress them
// (finit_module with MODULE_INIT_COMPRESSED_FILE), else decompressed here
// and loaded with init_module.
func LoadModule(name string) error {
	rel, err := KernelRelease()
	if err != nil {
		return err
	}
	return LoadModuleFrom(filepath.Join("/lib/modules", rel), name, "")
}

// LoadModuleFrom is LoadModule with the module directory and the module's
// parameters ("key=value key2=value2", "" for none) given.
func LoadModuleFrom(dir, name, params string) error {
	return modload.Load(dir, name, params)
}
