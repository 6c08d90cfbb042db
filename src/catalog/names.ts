// The shapes of names and addresses the repository accepts, shared by request schemas and bootstrap.
export const USER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const GROUP_NAME = USER_NAME;
// Deliberately plain: one @, no spaces, a dot in the domain. Mail delivery is the real test.
export const EMAIL = /^[^\s@<>(),;:"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
export const EMAIL_MAX = 254;
export const FULL_NAME_MAX = 256;

// Image names end up in URLs and file names on users' machines: no slashes, no "..".
export const IMAGE_NAME = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const DESCRIPTION_MAX = 4096;
export const VERSION_COMMENT_MAX = 1024;
export const OS_FIELD = /^[A-Za-z0-9._+ -]{0,64}$/;
export const OS_ARCHES = ["x86", "x86_64", "i386", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"] as const;
export const HYPERVISORS = ["xen", "kvm", "qemu", "vmware", "hyperv", "virtualbox", "lxc"] as const;
