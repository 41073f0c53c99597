export const PAGE_SIZE = 0x1000;
