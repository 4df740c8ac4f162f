/*
 * ELF64 loader for guest programs (see include/hw/elf-loader.h).
 *
 * Two passes: the first checks the ELF header and every program header
 * against the image, the program area and RAM; the second copies.  Fields
 * are read with memcpy, so the image may sit at any alignment.  All range
 * checks are written as "offset <= size && length <= size - offset" so no
 * sum can wrap.
 */
#include "qemu/osdep.h"

#include <elf.h>
#include <sys/stat.h>

#include "hw/elf-loader.h"

static bool elf_check_header(const Elf64_Ehdr *eh, size_t image_size,
                             Error **errp)
{
    static const unsigned char magic[SELFMAG] = { ELFMAG0, ELFMAG1, ELFMAG2,
                                                  ELFMAG3 };
    uint64_t table_bytes;

    if (memcmp(eh->e_ident, magic, SELFMAG) != 0) {
        error_setg(errp, "elf: bad magic, not an ELF file");
        return false;
    }
    if (eh->e_ident[EI_CLASS] != ELFCLASS64) {
        error_setg(errp, "elf: class %u is not ELFCLASS64 (a 64-bit program "
                   "is required)", eh->e_ident[EI_CLASS]);
        return false;
    }
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB) {
        error_setg(errp, "elf: data encoding %u is not little-endian",
                   eh->e_ident[EI_DATA]);
        return false;
    }
    if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT) {
        error_setg(errp, "elf: version %u/%u is not EV_CURRENT (1)",
                   eh->e_ident[EI_VERSION], eh->e_version);
        return false;
    }
    if (eh->e_ident[EI_OSABI] != ELFOSABI_SYSV &&
        eh->e_ident[EI_OSABI] != ELFOSABI_GNU) {
        error_setg(errp, "elf: OS ABI %u is neither System V (0) nor GNU (3)",
                   eh->e_ident[EI_OSABI]);
        return false;
    }
    if (eh->e_type != ET_EXEC) {
        error_setg(errp, "elf: type %u is not ET_EXEC (a statically linked, "
                   "non-PIE executable is required)", eh->e_type);
        return false;
    }
    if (eh->e_machine != EM_X86_64) {
        error_setg(errp, "elf: machine %u is not x86-64 (%u)", eh->e_machine,
                   EM_X86_64);
        return false;
    }
    if (eh->e_flags != 0) {
        error_setg(errp, "elf: flags 0x%x set (x86-64 defines none)",
                   eh->e_flags);
        return false;
    }
    if (eh->e_ehsize != sizeof(Elf64_Ehdr)) {
        error_setg(errp, "elf: header size %u is not %zu", eh->e_ehsize,
                   sizeof(Elf64_Ehdr));
        return false;
    }
    if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
        error_setg(errp, "elf: program header size %u is not %zu",
                   eh->e_phentsize, sizeof(Elf64_Phdr));
        return false;
    }
    if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHNUM) {
        error_setg(errp, "elf: %u program headers, allowed 1 to %d",
                   eh->e_phnum, ELF_MAX_PHNUM);
        return false;
    }
    table_bytes = (uint64_t)eh->e_phnum * eh->e_phentsize;
    if (eh->e_phoff > image_size || table_bytes > image_size - eh->e_phoff) {
        error_setg(errp, "elf: program header table (offset 0x%" PRIx64
                   ", %u entries of %u bytes) lies outside the %zu-byte image",
                   (uint64_t)eh->e_phoff, eh->e_phnum, eh->e_phentsize,
                   image_size);
        return false;
    }
    if (eh->e_shoff != 0) {
        if (eh->e_shentsize != sizeof(Elf64_Shdr)) {
            error_setg(errp, "elf: section header size %u is not %zu",
                       eh->e_shentsize, sizeof(Elf64_Shdr));
            return false;
        }
        table_bytes = (uint64_t)eh->e_shnum * eh->e_shentsize;
        if (eh->e_shoff > image_size ||
            table_bytes > image_size - eh->e_shoff) {
            error_setg(errp, "elf: section header table (offset 0x%" PRIx64
                       ", %u entries) lies outside the %zu-byte image",
                       (uint64_t)eh->e_shoff, eh->e_shnum, image_size);
            return false;
        }
    }
    return true;
}

/* Checks one PT_LOAD segment on its own (not against the others). */
static bool elf_check_load(unsigned idx, const Elf64_Phdr *ph,
                           size_t image_size, uint64_t ram_size,
                           uint64_t load_lo_gpa, uint64_t load_hi_gpa,
                           Error **errp)
{
    uint64_t end;

    if (ph->p_filesz > ph->p_memsz) {
        error_setg(errp, "elf: segment %u file size 0x%" PRIx64
                   " exceeds its memory size 0x%" PRIx64, idx,
                   (uint64_t)ph->p_filesz, (uint64_t)ph->p_memsz);
        return false;
    }
    if (ph->p_offset > image_size || ph->p_filesz > image_size - ph->p_offset) {
        error_setg(errp, "elf: segment %u file bytes (offset 0x%" PRIx64
                   ", size 0x%" PRIx64 ") lie outside the %zu-byte image",
                   idx, (uint64_t)ph->p_offset, (uint64_t)ph->p_filesz,
                   image_size);
        return false;
    }
    if (ph->p_vaddr != ph->p_paddr) {
        error_setg(errp, "elf: segment %u virtual address 0x%" PRIx64
                   " differs from its physical address 0x%" PRIx64
                   " (the guest runs with VA == GPA)", idx,
                   (uint64_t)ph->p_vaddr, (uint64_t)ph->p_paddr);
        return false;
    }
    if (ph->p_align > 1) {
        if (ph->p_align & (ph->p_align - 1)) {
            error_setg(errp, "elf: segment %u alignment 0x%" PRIx64
                       " is not a power of two", idx, (uint64_t)ph->p_align);
            return false;
        }
        if ((ph->p_vaddr - ph->p_offset) & (ph->p_align - 1)) {
            error_setg(errp, "elf: segment %u address 0x%" PRIx64
                       " and file offset 0x%" PRIx64 " differ modulo its "
                       "alignment 0x%" PRIx64, idx, (uint64_t)ph->p_vaddr,
                       (uint64_t)ph->p_offset, (uint64_t)ph->p_align);
            return false;
        }
    }
    if (ph->p_memsz > UINT64_MAX - ph->p_paddr) {
        error_setg(errp, "elf: segment %u at 0x%" PRIx64 " with size 0x%"
                   PRIx64 " wraps around the address space", idx,
                   (uint64_t)ph->p_paddr, (uint64_t)ph->p_memsz);
        return false;
    }
    end = ph->p_paddr + ph->p_memsz;
    if (ph->p_paddr < load_lo_gpa || end > load_hi_gpa) {
        error_setg(errp, "elf: segment %u [0x%" PRIx64 ", 0x%" PRIx64
                   ") lies outside the guest program area [0x%" PRIx64
                   ", 0x%" PRIx64 ")", idx, (uint64_t)ph->p_paddr, end,
                   load_lo_gpa, load_hi_gpa);
        return false;
    }
    if (end > ram_size) {
        error_setg(errp, "elf: segment %u [0x%" PRIx64 ", 0x%" PRIx64
                   ") lies outside guest RAM [0, 0x%" PRIx64 ")", idx,
                   (uint64_t)ph->p_paddr, end, ram_size);
        return false;
    }
    return true;
}

/* Is the segment loaded at all?  An empty PT_LOAD occupies nothing. */
static bool elf_loads_bytes(const Elf64_Phdr *ph)
{
    return ph->p_type == PT_LOAD && ph->p_memsz != 0;
}

bool elf_load(const void *image, size_t image_size,
              uint8_t *ram, uint64_t ram_size,
              uint64_t load_lo_gpa, uint64_t load_hi_gpa,
              uint64_t *entry_gpa, Error **errp)
{
    const uint8_t *bytes = image;
    Elf64_Phdr ph[ELF_MAX_PHNUM];
    Elf64_Ehdr eh;
    bool entry_ok = false;
    unsigned loads = 0;
    unsigned i, j;

    assert(load_lo_gpa < load_hi_gpa);
    if (image_size < sizeof(eh)) {
        error_setg(errp, "elf: image is %zu bytes, too short for the "
                   "%zu-byte ELF header", image_size, sizeof(eh));
        return false;
    }
    memcpy(&eh, bytes, sizeof(eh));
    if (!elf_check_header(&eh, image_size, errp)) {
        return false;
    }

    for (i = 0; i < eh.e_phnum; i++) {
        memcpy(&ph[i], bytes + eh.e_phoff + (uint64_t)i * sizeof(ph[i]),
               sizeof(ph[i]));
        if (ph[i].p_type == PT_INTERP || ph[i].p_type == PT_DYNAMIC) {
            error_setg(errp, "elf: segment %u asks for dynamic linking, "
                       "which is not supported (link the program statically)",
                       i);
            return false;
        }
        if (ph[i].p_type != PT_LOAD) {
            continue;
        }
        if (!elf_check_load(i, &ph[i], image_size, ram_size, load_lo_gpa,
                            load_hi_gpa, errp)) {
            return false;
        }
        if (!elf_loads_bytes(&ph[i])) {
            continue;
        }
        loads++;
        for (j = 0; j < i; j++) {
            if (elf_loads_bytes(&ph[j]) &&
                ph[i].p_paddr < ph[j].p_paddr + ph[j].p_memsz &&
                ph[j].p_paddr < ph[i].p_paddr + ph[i].p_memsz) {
                error_setg(errp, "elf: segment %u [0x%" PRIx64 ", 0x%" PRIx64
                           ") overlaps segment %u [0x%" PRIx64 ", 0x%" PRIx64
                           ")", i, (uint64_t)ph[i].p_paddr,
                           (uint64_t)(ph[i].p_paddr + ph[i].p_memsz), j,
                           (uint64_t)ph[j].p_paddr,
                           (uint64_t)(ph[j].p_paddr + ph[j].p_memsz));
                return false;
            }
        }
        if ((ph[i].p_flags & PF_X) && eh.e_entry >= ph[i].p_paddr &&
            eh.e_entry - ph[i].p_paddr < ph[i].p_memsz) {
            entry_ok = true;
        }
    }
    if (loads == 0) {
        error_setg(errp, "elf: no loadable segment (PT_LOAD with a nonzero "
                   "memory size)");
        return false;
    }
    if (!entry_ok) {
        error_setg(errp, "elf: entry point 0x%" PRIx64 " lies outside every "
                   "executable segment", (uint64_t)eh.e_entry);
        return false;
    }

    /* Everything checked: now write. */
    for (i = 0; i < eh.e_phnum; i++) {
        if (!elf_loads_bytes(&ph[i])) {
            continue;
        }
        memcpy(ram + ph[i].p_paddr, bytes + ph[i].p_offset, ph[i].p_filesz);
        memset(ram + ph[i].p_paddr + ph[i].p_filesz, 0,
               ph[i].p_memsz - ph[i].p_filesz);
    }
    *entry_gpa = eh.e_entry;
    return true;
}

bool elf_load_file(const char *path,
                   uint8_t *ram, uint64_t ram_size,
                   uint64_t load_lo_gpa, uint64_t load_hi_gpa,
                   uint64_t *entry_gpa, Error **errp)
{
    g_autoptr(GError) gerr = NULL;
    g_autofree char *contents = NULL;
    struct stat st;
    gsize len;

    /* stat first: refuse a huge or special file before reading it. */
    if (stat(path, &st) < 0) {
        error_setg_errno(errp, errno, "cannot read guest program %s", path);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, "guest program %s is not a regular file", path);
        return false;
    }
    if (st.st_size > ELF_MAX_FILE_BYTES) {
        error_setg(errp, "guest program %s is %lld bytes, more than the "
                   "limit of %d", path, (long long)st.st_size,
                   ELF_MAX_FILE_BYTES);
        return false;
    }
    if (!g_file_get_contents(path, &contents, &len, &gerr)) {
        error_setg(errp, "cannot read guest program %s: %s", path,
                   gerr->message);
        return false;
    }
    if (len > ELF_MAX_FILE_BYTES) {
        error_setg(errp, "guest program %s grew beyond the limit of %d bytes "
                   "while being read", path, ELF_MAX_FILE_BYTES);
        return false;
    }
    if (!elf_load(contents, len, ram, ram_size, load_lo_gpa, load_hi_gpa,
                  entry_gpa, errp)) {
        error_prepend(errp, "%s: ", path);
        return false;
    }
    return true;
}
