/*
 * ELF loader: a table of broken images, each refused with the message that
 * names its fault and with guest RAM untouched; a good image loaded byte
 * for byte; the embedded guest; loading from a file.
 */
#include "qemu/osdep.h"

#include <elf.h>

#include "hw/elf-loader.h"
#include "hw/guest-abi.h"
#include "hw/guest-image.h"
#include "test-cases.h"

#define TEST_RAM_SIZE   RS_SYS_SIZE
/* Fills RAM before each load, so a stray write shows. */
#define TEST_RAM_FILL   0xa5
#define TEST_TEXT_BYTES 256
#define TEST_DATA_BYTES 128
#define TEST_TEXT_GPA   RS_IMAGE_BASE
#define TEST_DATA_GPA   (RS_IMAGE_BASE + 0x1000)
#define TEST_DATA_MEMSZ 0x2000          /* the rest is .bss */
#define TEST_ENTRY_GPA  (TEST_TEXT_GPA + 0x10)

/*
 * A small executable laid out in one struct: header, three program headers
 * (text, data+bss, a PT_GNU_STACK the loader must ignore), then the bytes.
 */
typedef struct TestElf {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[3];
    uint8_t text[TEST_TEXT_BYTES];
    uint8_t data[TEST_DATA_BYTES];
} TestElf;

static void test_elf_init(TestElf *e, size_t *size)
{
    size_t i;

    memset(e, 0, sizeof(*e));
    memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
    e->eh.e_ident[EI_CLASS] = ELFCLASS64;
    e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    e->eh.e_ident[EI_VERSION] = EV_CURRENT;
    e->eh.e_ident[EI_OSABI] = ELFOSABI_SYSV;
    e->eh.e_type = ET_EXEC;
    e->eh.e_machine = EM_X86_64;
    e->eh.e_version = EV_CURRENT;
    e->eh.e_entry = TEST_ENTRY_GPA;
    e->eh.e_phoff = offsetof(TestElf, ph);
    e->eh.e_ehsize = sizeof(Elf64_Ehdr);
    e->eh.e_phentsize = sizeof(Elf64_Phdr);
    e->eh.e_phnum = 3;
    e->eh.e_shentsize = sizeof(Elf64_Shdr);

    e->ph[0] = (Elf64_Phdr) {
        .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
        .p_offset = offsetof(TestElf, text),
        .p_vaddr = TEST_TEXT_GPA, .p_paddr = TEST_TEXT_GPA,
        .p_filesz = TEST_TEXT_BYTES, .p_memsz = TEST_TEXT_BYTES,
        .p_align = 1,
    };
    e->ph[1] = (Elf64_Phdr) {
        .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
        .p_offset = offsetof(TestElf, data),
        .p_vaddr = TEST_DATA_GPA, .p_paddr = TEST_DATA_GPA,
        .p_filesz = TEST_DATA_BYTES, .p_memsz = TEST_DATA_MEMSZ,
        .p_align = 1,
    };
    e->ph[2] = (Elf64_Phdr) {
        .p_type = PT_GNU_STACK, .p_flags = PF_R | PF_W,
    };
    for (i = 0; i < TEST_TEXT_BYTES; i++) {
        e->text[i] = (uint8_t)(i * 7 + 1);
    }
    for (i = 0; i < TEST_DATA_BYTES; i++) {
        e->data[i] = (uint8_t)(i * 13 + 5);
    }
    *size = sizeof(*e);
}

typedef struct BadElfCase {
    const char *name;
    void (*mutate)(TestElf *e, size_t *size, uint64_t *ram_size);
    const char *fragment;   /* expected in the error message */
} BadElfCase;

#define MUTATOR(fn, body) \
    static void fn(TestElf *e, size_t *size, uint64_t *ram_size) \
    { \
        (void)e; (void)size; (void)ram_size; \
        body; \
    }

MUTATOR(bad_magic, e->eh.e_ident[EI_MAG1] = 'X')
MUTATOR(class_32, e->eh.e_ident[EI_CLASS] = ELFCLASS32)
MUTATOR(big_endian, e->eh.e_ident[EI_DATA] = ELFDATA2MSB)
MUTATOR(bad_version, e->eh.e_version = 2)
MUTATOR(bad_ident_version, e->eh.e_ident[EI_VERSION] = 0)
MUTATOR(bad_osabi, e->eh.e_ident[EI_OSABI] = ELFOSABI_ARM)
MUTATOR(type_dyn, e->eh.e_type = ET_DYN)
MUTATOR(wrong_machine, e->eh.e_machine = EM_386)
MUTATOR(flags_set, e->eh.e_flags = 1)
MUTATOR(bad_ehsize, e->eh.e_ehsize = 52)
MUTATOR(truncated_header, *size = 40)
MUTATOR(empty_image, *size = 0)
MUTATOR(bad_phentsize, e->eh.e_phentsize = 32)
MUTATOR(no_phdrs, e->eh.e_phnum = 0)
MUTATOR(too_many_phdrs, e->eh.e_phnum = ELF_MAX_PHNUM + 1)
MUTATOR(phoff_beyond_file, e->eh.e_phoff = sizeof(TestElf) + 8)
MUTATOR(phdrs_cut_off, *size = offsetof(TestElf, ph) + sizeof(Elf64_Phdr))
MUTATOR(phoff_overflow, e->eh.e_phoff = UINT64_MAX - 16)
MUTATOR(shoff_beyond_file, e->eh.e_shoff = sizeof(TestElf); e->eh.e_shnum = 4)
MUTATOR(segment_beyond_file,
        e->ph[1].p_filesz = 0x1000; e->ph[1].p_memsz = 0x1000)
MUTATOR(segment_offset_overflow, e->ph[0].p_offset = UINT64_MAX - 8)
MUTATOR(file_cut_in_segment, *size = offsetof(TestElf, data) + 8)
MUTATOR(filesz_over_memsz, e->ph[1].p_memsz = TEST_DATA_BYTES - 1)
MUTATOR(vaddr_not_paddr, e->ph[0].p_vaddr = TEST_TEXT_GPA + 0x1000)
MUTATOR(align_not_pow2, e->ph[0].p_align = 3)
MUTATOR(align_mismatch, e->ph[0].p_align = 0x1000)
MUTATOR(below_program_area,
        e->ph[0].p_vaddr = e->ph[0].p_paddr = 0x100000;
        e->ph[0].p_memsz = 0x200000)
MUTATOR(above_program_area,
        e->ph[1].p_vaddr = e->ph[1].p_paddr = RS_IMAGE_END - 0x1000)
MUTATOR(outside_ram, *ram_size = TEST_DATA_GPA + 0x1000)
MUTATOR(overlapping, e->ph[1].p_vaddr = e->ph[1].p_paddr = TEST_TEXT_GPA + 0x80)
MUTATOR(entry_in_data, e->eh.e_entry = TEST_DATA_GPA)
MUTATOR(entry_nowhere, e->eh.e_entry = 0x500000)
MUTATOR(entry_in_empty_segment,
        e->ph[2].p_type = PT_LOAD; e->ph[2].p_flags = PF_R | PF_X;
        e->ph[2].p_vaddr = e->ph[2].p_paddr = 0x300000;
        e->eh.e_entry = 0x300000)
MUTATOR(address_wraps,
        e->ph[1].p_vaddr = e->ph[1].p_paddr = 0xfffffffffffff000ull;
        e->ph[1].p_memsz = 0x2000)
MUTATOR(interp, e->ph[2].p_type = PT_INTERP)
MUTATOR(dynamic, e->ph[2].p_type = PT_DYNAMIC)
MUTATOR(no_load, e->ph[0].p_type = PT_NOTE; e->ph[1].p_type = PT_NOTE)

static const BadElfCase bad_elf_cases[] = {
    { "bad-magic", bad_magic, "elf: bad magic, not an ELF file" },
    { "32-bit-class", class_32, "class 1 is not ELFCLASS64" },
    { "big-endian", big_endian, "data encoding 2 is not little-endian" },
    { "bad-version", bad_version, "version 1/2 is not EV_CURRENT" },
    { "bad-ident-version", bad_ident_version, "version 0/1 is not EV_CURRENT" },
    { "foreign-os-abi", bad_osabi, "OS ABI 97" },
    { "shared-object", type_dyn, "type 3 is not ET_EXEC" },
    { "wrong-machine", wrong_machine, "machine 3 is not x86-64" },
    { "flags-set", flags_set, "flags 0x1 set" },
    { "bad-header-size", bad_ehsize, "header size 52 is not 64" },
    { "truncated-header", truncated_header,
      "image is 40 bytes, too short for the 64-byte ELF header" },
    { "empty-image", empty_image, "image is 0 bytes" },
    { "bad-phentsize", bad_phentsize, "program header size 32 is not 56" },
    { "no-program-headers", no_phdrs, "0 program headers, allowed 1 to 64" },
    { "too-many-program-headers", too_many_phdrs,
      "65 program headers, allowed 1 to 64" },
    { "phoff-beyond-file", phoff_beyond_file,
      "program header table (offset 0x270, 3 entries of 56 bytes) lies "
      "outside the 616-byte image" },
    { "program-headers-cut-off", phdrs_cut_off,
      "program header table (offset 0x40, 3 entries of 56 bytes) lies "
      "outside the 120-byte image" },
    { "phoff-overflow", phoff_overflow, "program header table" },
    { "shoff-beyond-file", shoff_beyond_file,
      "section header table (offset 0x268, 4 entries) lies outside" },
    { "segment-beyond-file", segment_beyond_file,
      "segment 1 file bytes (offset 0x1e8, size 0x1000) lie outside the "
      "616-byte image" },
    { "segment-offset-overflow", segment_offset_overflow,
      "segment 0 file bytes (offset 0xfffffffffffffff7" },
    { "file-cut-inside-segment", file_cut_in_segment,
      "segment 1 file bytes (offset 0x1e8, size 0x80) lie outside the "
      "496-byte image" },
    { "filesz-over-memsz", filesz_over_memsz,
      "segment 1 file size 0x80 exceeds its memory size 0x7f" },
    { "vaddr-not-paddr", vaddr_not_paddr,
      "segment 0 virtual address 0x201000 differs from its physical "
      "address 0x200000" },
    { "alignment-not-power-of-two", align_not_pow2,
      "segment 0 alignment 0x3 is not a power of two" },
    { "alignment-mismatch", align_mismatch,
      "segment 0 address 0x200000 and file offset 0xe8 differ modulo" },
    { "below-program-area", below_program_area,
      "elf: segment 0 [0x100000, 0x300000) lies outside the guest program "
      "area [0x200000, 0x800000)" },
    { "above-program-area", above_program_area,
      "elf: segment 1 [0x7ff000, 0x801000) lies outside the guest program "
      "area [0x200000, 0x800000)" },
    { "outside-ram", outside_ram,
      "elf: segment 1 [0x201000, 0x203000) lies outside guest RAM "
      "[0, 0x202000)" },
    { "overlapping-segments", overlapping,
      "segment 1 [0x200080, 0x202080) overlaps segment 0 [0x200000, "
      "0x200100)" },
    { "entry-in-data", entry_in_data,
      "entry point 0x201000 lies outside every executable segment" },
    { "entry-nowhere", entry_nowhere,
      "entry point 0x500000 lies outside every executable segment" },
    { "entry-in-empty-segment", entry_in_empty_segment,
      "entry point 0x300000 lies outside every executable segment" },
    { "address-overflow", address_wraps,
      "segment 1 at 0xfffffffffffff000 with size 0x2000 wraps around" },
    { "interpreter", interp, "segment 2 asks for dynamic linking" },
    { "dynamic", dynamic, "segment 2 asks for dynamic linking" },
    { "no-loadable-segment", no_load, "no loadable segment" },
};

/* Fails the test with the loader's message when @ok is false. */
static void test_assert_ok(bool ok, Error *err)
{
    if (!ok) {
        g_error("unexpected failure: %s", err ? error_get_pretty(err) : "?");
    }
    g_assert_null(err);
}

static uint8_t *test_ram_new(void)
{
    uint8_t *ram = g_malloc(TEST_RAM_SIZE);

    memset(ram, TEST_RAM_FILL, TEST_RAM_SIZE);
    return ram;
}

static bool test_ram_untouched(const uint8_t *ram, uint64_t from, uint64_t to)
{
    uint64_t i;

    for (i = from; i < to; i++) {
        if (ram[i] != TEST_RAM_FILL) {
            return false;
        }
    }
    return true;
}

static void test_refuses(gconstpointer opaque)
{
    const BadElfCase *c = opaque;
    g_autofree uint8_t *ram = test_ram_new();
    g_autoptr(Error) err = NULL;
    uint64_t ram_size = TEST_RAM_SIZE;
    uint64_t entry = 0;
    TestElf e;
    size_t size;

    test_elf_init(&e, &size);
    c->mutate(&e, &size, &ram_size);
    g_assert_false(elf_load(&e, size, ram, ram_size, RS_IMAGE_BASE,
                            RS_IMAGE_END, &entry, &err));
    g_assert_nonnull(err);
    g_test_message("%s: %s", c->name, error_get_pretty(err));
    g_assert_true(g_str_has_prefix(error_get_pretty(err), "elf: "));
    g_assert_nonnull(strstr(error_get_pretty(err), c->fragment));
    g_assert_cmpuint(entry, ==, 0);
    g_assert_true(test_ram_untouched(ram, 0, TEST_RAM_SIZE));
}

static void test_loads_good_image(void)
{
    g_autoptr(Error) err = NULL;
    bool ok;
    g_autofree uint8_t *ram = test_ram_new();
    uint64_t entry = 0;
    TestElf e;
    size_t size;
    uint64_t i;

    test_elf_init(&e, &size);
    ok = elf_load(&e, size, ram, TEST_RAM_SIZE, RS_IMAGE_BASE, RS_IMAGE_END,
                  &entry, &err);
    test_assert_ok(ok, err);
    g_assert_cmphex(entry, ==, TEST_ENTRY_GPA);
    g_assert_cmpmem(ram + TEST_TEXT_GPA, TEST_TEXT_BYTES, e.text,
                    TEST_TEXT_BYTES);
    g_assert_cmpmem(ram + TEST_DATA_GPA, TEST_DATA_BYTES, e.data,
                    TEST_DATA_BYTES);
    for (i = TEST_DATA_GPA + TEST_DATA_BYTES;
         i < TEST_DATA_GPA + TEST_DATA_MEMSZ; i++) {
        g_assert_cmpuint(ram[i], ==, 0);
    }
    /* Nothing but the two segments was written. */
    g_assert_true(test_ram_untouched(ram, 0, TEST_TEXT_GPA));
    g_assert_true(test_ram_untouched(ram, TEST_TEXT_GPA + TEST_TEXT_BYTES,
                                     TEST_DATA_GPA));
    g_assert_true(test_ram_untouched(ram, TEST_DATA_GPA + TEST_DATA_MEMSZ,
                                     TEST_RAM_SIZE));
}

/* The image need not be aligned: fields are read with memcpy. */
static void test_loads_unaligned_image(void)
{
    g_autoptr(Error) err = NULL;
    bool ok;
    g_autofree uint8_t *ram = test_ram_new();
    g_autofree uint8_t *buf = g_malloc(sizeof(TestElf) + 1);
    uint64_t entry = 0;
    TestElf e;
    size_t size;

    test_elf_init(&e, &size);
    memcpy(buf + 1, &e, size);
    ok = elf_load(buf + 1, size, ram, TEST_RAM_SIZE, RS_IMAGE_BASE,
                  RS_IMAGE_END, &entry, &err);
    test_assert_ok(ok, err);
    g_assert_cmphex(entry, ==, TEST_ENTRY_GPA);
    g_assert_cmpmem(ram + TEST_TEXT_GPA, TEST_TEXT_BYTES, e.text,
                    TEST_TEXT_BYTES);
}

static void test_loads_embedded_guest(void)
{
    g_autoptr(Error) err = NULL;
    bool ok;
    g_autofree uint8_t *ram = test_ram_new();
    uint64_t entry = 0;

    g_assert_cmpuint(restraint_guest_elf_size, >, sizeof(Elf64_Ehdr));
    ok = elf_load(restraint_guest_elf, restraint_guest_elf_size, ram,
                  TEST_RAM_SIZE, RS_IMAGE_BASE, RS_IMAGE_END, &entry, &err);
    test_assert_ok(ok, err);
    g_assert_cmphex(entry, >=, RS_IMAGE_BASE);
    g_assert_cmphex(entry, <, RS_IMAGE_END);
    /* The guest lives in the program area only. */
    g_assert_true(test_ram_untouched(ram, 0, RS_IMAGE_BASE));
    g_assert_true(test_ram_untouched(ram, RS_IMAGE_END, TEST_RAM_SIZE));
}

static void test_file_missing(void)
{
    g_autofree uint8_t *ram = test_ram_new();
    g_autoptr(Error) err = NULL;
    uint64_t entry;

    g_assert_false(elf_load_file("/nonexistent/restraint-guest", ram,
                                 TEST_RAM_SIZE, RS_IMAGE_BASE, RS_IMAGE_END,
                                 &entry, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "cannot read guest program /nonexistent/restraint-guest: "
                    "No such file or directory");
}

static void test_file_directory(void)
{
    g_autofree uint8_t *ram = test_ram_new();
    g_autoptr(Error) err = NULL;
    uint64_t entry;

    g_assert_false(elf_load_file("/", ram, TEST_RAM_SIZE, RS_IMAGE_BASE,
                                 RS_IMAGE_END, &entry, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "guest program / is not a regular file");
}

static char *test_write_tmp(const void *bytes, size_t size)
{
    g_autoptr(GError) gerr = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("test-elf-loader-XXXXXX", &path, &gerr);

    g_assert_no_error(gerr);
    close(fd);
    g_assert_true(g_file_set_contents(path, bytes, size, &gerr));
    g_assert_no_error(gerr);
    return path;
}

static void test_file_loads(void)
{
    g_autoptr(Error) err = NULL;
    bool ok;
    g_autofree uint8_t *ram = test_ram_new();
    g_autofree char *path = NULL;
    uint64_t entry = 0;
    TestElf e;
    size_t size;

    test_elf_init(&e, &size);
    path = test_write_tmp(&e, size);
    ok = elf_load_file(path, ram, TEST_RAM_SIZE, RS_IMAGE_BASE, RS_IMAGE_END,
                       &entry, &err);
    test_assert_ok(ok, err);
    g_assert_cmphex(entry, ==, TEST_ENTRY_GPA);
    g_assert_cmpmem(ram + TEST_TEXT_GPA, TEST_TEXT_BYTES, e.text,
                    TEST_TEXT_BYTES);
    unlink(path);
}

static void test_file_error_names_path(void)
{
    /* Longer than an ELF header, so the magic is what gives it away. */
    static const char garbage[] = "#!/bin/sh\n"
        "echo 'a shell script is not a guest program, however long it is'\n";
    g_autofree uint8_t *ram = test_ram_new();
    g_autofree char *path = test_write_tmp(garbage, sizeof(garbage));
    g_autofree char *want = g_strdup_printf("%s: elf: bad magic", path);
    g_autoptr(Error) err = NULL;
    uint64_t entry;

    g_assert_false(elf_load_file(path, ram, TEST_RAM_SIZE, RS_IMAGE_BASE,
                                 RS_IMAGE_END, &entry, &err));
    g_assert_true(g_str_has_prefix(error_get_pretty(err), want));
    g_assert_true(test_ram_untouched(ram, 0, TEST_RAM_SIZE));
    unlink(path);
}

static const TestCase cases[] = {
    { "loads-good-image-byte-exactly", test_loads_good_image },
    { "loads-unaligned-image", test_loads_unaligned_image },
    { "loads-embedded-guest", test_loads_embedded_guest },
    { "file/missing-is-refused", test_file_missing },
    { "file/directory-is-refused", test_file_directory },
    { "file/loads", test_file_loads },
    { "file/error-names-the-path", test_file_error_names_path },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(bad_elf_cases); i++) {
        g_autofree char *path = g_strdup_printf("/elf-loader/refuses/%s",
                                                bad_elf_cases[i].name);

        g_test_add_data_func(path, &bad_elf_cases[i], test_refuses);
    }
    test_add_cases("/elf-loader/", cases);
    return g_test_run();
}
