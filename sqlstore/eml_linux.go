package sqlstore

import "syscall"

// oDirect writes a file around the page cache (see emlFiles.direct).
const oDirect = syscall.O_DIRECT
