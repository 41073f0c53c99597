// The seed's flag values, unchanged from the original kernel (kernel/mem/mem.h).

/** Default: for mem_getPage, do not create tables; for mem_allocatePage, a present, writable, executable user page. */
export const MEM_DEFAULT = 0x00;
/** mem_getPage: create missing page tables. */
export const MEM_CREATE = 0x01;

/** Kernel-mode only page. */
export const MEM_PAGE_KERNEL = 0x02;
/** Read-only page. */
export const MEM_PAGE_READONLY = 0x04;
/** Write-through caching. */
export const MEM_PAGE_WRITETHROUGH = 0x08;
/** Uncacheable (UC). */
export const MEM_PAGE_NOT_CACHEABLE = 0x10;
/** The page is not present. */
export const MEM_PAGE_NOT_PRESENT = 0x20;
/** Do not allocate a frame: only change the protection bits. */
export const MEM_PAGE_NOALLOC = 0x40;
/** Free the page (same as mem_freePage). */
export const MEM_PAGE_FREE = 0x80;
/** No-execute (NX), where the architecture supports it. */
export const MEM_PAGE_NO_EXECUTE = 0x100;
/** Write-combining, where the architecture supports it. */
export const MEM_PAGE_WRITE_COMBINE = 0x200;

/** Every flag mem_allocatePage and mem_mapAddress accept. */
export const MEM_PAGE_FLAGS_ALL = 0x3fe;
/** Every flag mem_getPage accepts. */
export const MEM_GET_PAGE_FLAGS_ALL = MEM_CREATE;
