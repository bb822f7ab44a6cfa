#!/usr/bin/env python3
"""Tests of tools/firmware_size_report.py (docs/firmware.md "Size report and budgets").

  firmware_size_report_test.py          the analysis on hand-written GCC outputs (no toolchain needed)
  firmware_size_report_test.py --gcc    end to end on objects arm-none-eabi-gcc compiles here; exit 77 (ctest: skipped)
                                        when the toolchain is missing, naming its Debian packages
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import firmware_size_report as fsr  # noqa: E402


def ci_text(path, funcs, edges):
    """A -fcallgraph-info=su file as GCC 12 writes it: funcs = {name: (bytes, qualifier) or None (declared)}."""
    lines = [f'graph: {{ title: "{path}"']
    for i, (title, fr) in enumerate(funcs.items()):
        name = title.rsplit(":", 1)[-1]  # a static function's title is path:name, its label the name
        if fr is None:
            lines.append(f'node: {{ title: "{title}" label: "{name}\\n{path}:0:0" shape : ellipse }}')
        else:
            lines.append(f'node: {{ title: "{title}" label: "{name}\\n{path}:{i + 1}:1\\n{fr[0]} bytes ({fr[1]})" }}')
    for a, b in edges:
        lines.append(f'edge: {{ sourcename: "{a}" targetname: "{b}" label: "{path}:1:1" }}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def su_text(path, funcs):
    return "".join(f"{path}:{i + 1}:1:{title.rsplit(':', 1)[-1]}\t{fr[0]}\t{fr[1]}\n"
                   for i, (title, fr) in enumerate(funcs.items()) if fr is not None)


def graph_of(units, taken=()):
    """units: [(path, funcs, edges)] -> a Graph as load_graph builds it from files."""
    d = tempfile.mkdtemp(prefix="fsr_test_")
    try:
        for n, (path, funcs, edges) in enumerate(units):
            with open(os.path.join(d, f"u{n}.ci"), "w") as f:
                f.write(ci_text(path, funcs, edges))
            with open(os.path.join(d, f"u{n}.su"), "w") as f:
                f.write(su_text(path, funcs))
        g = fsr.load_graph(d)
    finally:
        shutil.rmtree(d)
    for f in g.funcs.values():
        f.address_taken = f.symbol in taken
    return g


class CallGraph(unittest.TestCase):
    def test_deepest_path_sums_frames_from_the_root(self):
        g = graph_of([("a.c", {"main": (16, "static"), "small": (8, "static"), "big": (400, "static"),
                               "leaf": (24, "static")},
                       [("main", "small"), ("main", "big"), ("big", "leaf"), ("small", "leaf")])])
        r = fsr.worst_case_stack(g)
        self.assertEqual(r.worst, 16 + 400 + 24)
        self.assertEqual(r.path, [("main", 16), ("big", 400), ("leaf", 24)])
        self.assertEqual(r.roots, {"main": 440})
        self.assertEqual(r.recursion, [])

    def test_calls_across_units_resolve_by_name_and_statics_stay_apart(self):
        # two files each with a static "helper": the title is path:name, so each caller gets its own
        g = graph_of([("a.c", {"main": (8, "static"), "a.c:helper": (100, "static"), "lib_fn": None},
                       [("main", "a.c:helper"), ("main", "lib_fn")]),
                      ("b.c", {"lib_fn": (32, "static"), "b.c:helper": (1000, "static")},
                       [("lib_fn", "b.c:helper")])])
        r = fsr.worst_case_stack(g)
        self.assertEqual(r.worst, 8 + 32 + 1000)
        self.assertEqual([n for n, _ in r.path], ["main", "lib_fn", "helper"])

    def test_indirect_call_costs_the_deepest_address_taken_function(self):
        g = graph_of([("a.c", {"main": (16, "static"), "core": (64, "static"), "port_sign": (48, "static"),
                               "port_log": (8, "static"), "sodium_sign": (2000, "static")},
                       [("main", "core"), ("core", fsr.INDIRECT), ("port_sign", "sodium_sign")])],
                     taken={"port_sign", "port_log"})
        r = fsr.worst_case_stack(g)
        self.assertEqual(r.indirect_cost, 48 + 2000)
        self.assertEqual(r.roots["main"], 16 + 64 + 2048)
        self.assertEqual(r.worst, 16 + 64 + 2048)  # port_sign is also a root, shallower than main's path
        self.assertEqual(sorted(r.indirect_targets), ["port_log", "port_sign"])

    def test_indirect_calls_nest_as_declared(self):
        # a port function that itself calls through a pointer: level 1 sees the inner call as free, level 2 not
        g = graph_of([("a.c", {"main": (10, "static"), "cb_outer": (100, "static"), "cb_inner": (1000, "static")},
                       [("main", fsr.INDIRECT), ("cb_outer", fsr.INDIRECT)])], taken={"cb_outer", "cb_inner"})
        self.assertEqual(fsr.worst_case_stack(g, bounds={"indirect_nesting": 1}).indirect_cost, 1000)
        two = fsr.worst_case_stack(g, bounds={"indirect_nesting": 2})
        self.assertEqual(two.indirect_cost, 1100)
        self.assertEqual(two.indirect_path, [("cb_outer", 100), ("(indirect call)", 1000)])
        self.assertEqual(two.roots["main"], 10 + 1100)
        # nobody calls cb_outer directly, so it is a root too (an SDK may call a callback it was given), and as a
        # root its own indirect calls cost the full level
        self.assertEqual(two.roots["cb_outer"], 100 + 1100)

    def test_recursion_is_reported_and_fails_unless_bounded(self):
        units = [("a.c", {"main": (8, "static"), "enc": (40, "static"), "sub": (24, "static"), "leaf": (4, "static")},
                  [("main", "enc"), ("enc", "sub"), ("sub", "enc"), ("sub", "leaf")])]
        r = fsr.worst_case_stack(graph_of(units))
        self.assertEqual(r.recursion, [["enc", "sub"]])
        rep = {"target": "cortex-m3", "recursion": r.recursion, "dynamic": [], "ram_bytes": 1, "flash_bytes": 1,
               "static_ram_bytes": 0, "stack_bytes": 1}
        fails = fsr.judge(rep, {"rtl8195": {"chip": "RTL8195AM", "app_ram_bytes": 10, "app_flash_bytes": 10}})
        self.assertEqual(fails, ["cortex-m3: recursion: enc -> sub: the stack has no bound"])
        # a declared depth: every member's frame on the stack at every level, plus the deepest exit
        b = fsr.worst_case_stack(graph_of(units), bounds={"recursion": {"enc": {"depth": 3, "why": "test"}}})
        self.assertEqual(b.recursion, [])
        self.assertEqual(b.bounded, [(["enc", "sub"], 3, 3 * (40 + 24))])
        self.assertEqual(b.worst, 8 + 3 * 64 + 4)

    def test_self_recursion_is_a_cycle(self):
        r = fsr.worst_case_stack(graph_of([("a.c", {"main": (8, "static"), "walk": (16, "static")},
                                            [("main", "walk"), ("walk", "walk")])]))
        self.assertEqual(r.recursion, [["walk"]])

    def test_dynamic_frame_fails_but_a_bounded_one_counts(self):
        g = graph_of([("a.c", {"main": (8, "static"), "vla": (32, "dynamic"), "alloca16": (48, "dynamic,bounded")},
                       [("main", "vla"), ("main", "alloca16")])])
        r = fsr.worst_case_stack(g)
        self.assertEqual(r.dynamic, ["vla"])
        self.assertEqual(r.worst, 8 + 48)
        rep = {"target": "lx106", "recursion": [], "dynamic": r.dynamic, "ram_bytes": 1, "flash_bytes": 1,
               "static_ram_bytes": 0, "stack_bytes": 1}
        fails = fsr.judge(rep, {c: {"chip": c, "app_ram_bytes": 10, "app_flash_bytes": 10}
                                for c in ("esp8266", "esp32")})
        self.assertEqual(fails, ["lx106: vla has a dynamic (unbounded) stack frame: the stack has no bound"])

    def test_functions_the_linker_dropped_do_not_count(self):
        g = graph_of([("a.c", {"main": (8, "static"), "unused_deep": (5000, "static")}, [])])
        self.assertEqual(fsr.worst_case_stack(g).worst, 5000)
        self.assertEqual(fsr.worst_case_stack(g, elf_funcs={"main"}).worst, 8)

    def test_interrupt_entries_add_to_the_thread_with_their_exception_frame(self):
        g = graph_of([("a.c", {"Reset_Handler": (8, "static"), "main": (100, "static"),
                               "UART0_Handler": (40, "static"), "SysTick_Handler": (16, "static"),
                               "HardFault_Handler": (300, "static"), "BusFault_Handler": (200, "static")},
                       [("Reset_Handler", "main")])])
        r = fsr.worst_case_stack(g, isr_frame=32)
        # thread 108 + every interrupt (each may preempt) + only the deepest fault handler (a fault in one locks up)
        self.assertEqual(r.worst, 108 + (40 + 32) + (16 + 32) + (300 + 32))
        self.assertEqual([n for n, _ in r.path], ["Reset_Handler", "main"])

    def test_only_objects_the_image_links_count(self):
        d = tempfile.mkdtemp(prefix="fsr_test_")
        try:
            for name, frame in (("img", 64), ("bench", 9000)):  # two images' objects in one build folder
                sub = os.path.join(d, "CMakeFiles", name + ".dir")
                os.makedirs(sub)
                with open(os.path.join(sub, "main.c.ci"), "w") as f:
                    f.write(ci_text(f"{name}/main.c", {"main": (frame, "static")}, []))
                with open(os.path.join(sub, "main.c.su"), "w") as f:
                    f.write(su_text(f"{name}/main.c", {"main": (frame, "static")}))
                open(os.path.join(sub, "main.c.obj"), "w").close()
            linked = fsr.linked_objects("LOAD CMakeFiles/img.dir/main.c.obj\n .text  0x0  0x10 libx.a(member.c.obj)\n")
            self.assertEqual(linked, {"CMakeFiles/img.dir/main.c.obj", "member.c.obj"})
            g = fsr.load_graph(d, linked)
            self.assertEqual(fsr.worst_case_stack(g).worst, 64)
            self.assertEqual(g.objects, [os.path.join(d, "CMakeFiles", "img.dir", "main.c.obj")])
        finally:
            shutil.rmtree(d)

    def test_su_is_the_frame_authority_and_must_cover_the_graph(self):
        d = tempfile.mkdtemp(prefix="fsr_test_")
        try:
            with open(os.path.join(d, "a.ci"), "w") as f:
                f.write(ci_text("a.c", {"main": (8, "static"), "f": (16, "static")}, [("main", "f")]))
            with open(os.path.join(d, "a.su"), "w") as f:
                f.write("a.c:1:1:main\t8\tstatic\na.c:2:1:f\t24\tstatic\n")
            self.assertEqual(fsr.load_graph(d).funcs["f"].frame, 24)
            with open(os.path.join(d, "b.su"), "w") as f:
                f.write("b.c:1:1:orphan\t8\tstatic\n")  # a unit compiled without -fcallgraph-info
            with self.assertRaisesRegex(fsr.ReportError, "in no .ci call graph, e.g. b.c:1:1:orphan"):
                fsr.load_graph(d)
        finally:
            shutil.rmtree(d)
        with self.assertRaisesRegex(fsr.ReportError, "no \\*.ci call graphs"):
            fsr.load_graph(tempfile.gettempdir() + "/fsr_no_such_dir")


class Binutils(unittest.TestCase):
    def test_sections_flash_is_loaded_content_ram_is_what_lies_in_data_ram(self):
        # picolibc on a Cortex-M: writable vectors in flash (.init at 0), the TLS .tbss inside .tbss_space
        readelf = textwrap.dedent("""\
          [Nr] Name              Type            Addr     Off    Size   ES Flg Lk Inf Al
          [ 0]                   NULL            00000000 000000 000000 00      0   0  0
          [ 1] .init             PROGBITS        00000000 001000 000040 00  WA  0   0 128
          [ 2] .text             PROGBITS        00000040 001040 01a630 00  AX  0   0 16
          [ 3] .data             PROGBITS        20000000 01c000 000010 00  WA  0   0  4
          [ 4] .tbss             NOBITS          20000010 01c010 000084 00 WAT  0   0  4
          [ 5] .tbss_space       NOBITS          20000010 01c010 000084 00  WA  0   0  1
          [ 6] .bss              NOBITS          20000098 01c010 001168 00  WA  0   0  8
          [ 7] .stack            NOBITS          20001200 01c010 000800 00  WA  0   0  1
          [ 8] .comment          PROGBITS        00000000 01c010 000026 01  MS  0   0  1
          [ 9] .debug_info       PROGBITS        00000000 020058 009000 00      0   0  1
        """)
        s = fsr.parse_sections(readelf, fsr.TARGETS["cortex-m3"]["ram"])
        self.assertEqual(s.flash, 0x40 + 0x1a630 + 0x10)
        self.assertEqual(s.data, 0x10)
        self.assertEqual(s.bss, 0x84 + 0x1168)
        self.assertEqual(s.static_ram, 0x10 + 0x84 + 0x1168)
        self.assertEqual(s.reserved, {".stack": 0x800})
        # the ESP8266: code in the flash window, .rodata inside .data in dram0 (read-only data costs RAM there)
        readelf = textwrap.dedent("""\
          [ 1] .text             PROGBITS        40210000 001000 020c2c 00  AX  0   0  4
          [ 2] .data             PROGBITS        3ffe8000 022000 002060 00  WA  0   0 16
          [ 3] .rodata           PROGBITS        3ffea060 024060 000100 00   A  0   0  4
          [ 4] .bss              NOBITS          3ffea160 024160 001d50 00  WA  0   0  8
        """)
        s = fsr.parse_sections(readelf, fsr.TARGETS["lx106"]["ram"])
        self.assertEqual(s.flash, 0x20c2c + 0x2060 + 0x100)
        self.assertEqual((s.data, s.bss), (0x2060 + 0x100, 0x1d50))

    def test_address_taken_arm_relocations(self):
        readelf_r = textwrap.dedent("""\
        Relocation section '.rel.text.use' at offset 0x238 contains 3 entries:
         Offset     Info    Type            Sym.Value  Sym. Name
        00000018  0000130a R_ARM_THM_CALL         00000000   ext
        00000024  00000702 R_ARM_ABS32            00000001   cb
        0000002c  00000a2f R_ARM_THM_MOVW_ABS_NC  00000001   other_cb

        Relocation section '.rel.rodata.T' at offset 0x248 contains 1 entry:
         Offset     Info    Type            Sym.Value  Sym. Name
        00000000  00001102 R_ARM_ABS32            00000001   leaf

        Relocation section '.rel.vectors' at offset 0x250 contains 2 entries:
        00000004  00001102 R_ARM_ABS32            00000001   Reset_Handler
        00000008  00001102 R_ARM_ABS32            00000001   UART0_Handler

        Relocation section '.rel.ARM.exidx.text.use' at offset 0x258 contains 1 entry:
        00000000  0000062a R_ARM_PREL31           00000000   .text.use
        """)
        self.assertEqual(fsr.address_taken(readelf_r), {"cb", "other_cb", "leaf"})

    def test_address_taken_xtensa_longcalls_are_calls(self):
        readelf_r = textwrap.dedent("""\
        Relocation section '.rela.literal.use' at offset 0x2cc contains 3 entries:
         Offset     Info    Type            Sym. Value  Symbol's Name + Addend
        00000000  00000501 R_XTENSA_32            00000000   .text.cb + 0
        00000004  00001101 R_XTENSA_32            00000000   ext + 0
        00000008  00001101 R_XTENSA_32            00000000   .text.log_ev$isra$0 + 0

        Relocation section '.rela.text.use' at offset 0x2e4 contains 4 entries:
        00000003  00000a14 R_XTENSA_SLOT0_OP      00000000   .literal.use + 0
        00000024  00000a14 R_XTENSA_SLOT0_OP      00000000   .literal.use + 4
        00000024  0000110b R_XTENSA_ASM_EXPAND    00000000   ext + 0
        00000030  0000110b R_XTENSA_ASM_EXPAND    00000000   .text.log_ev$isra$0 + 8

        Relocation section '.rela.rodata.use' at offset 0x300 contains 1 entry:
        00000000  00000801 R_XTENSA_32            00000000   .text.use + 0

        Relocation section '.rela.rodata.T' at offset 0x308 contains 1 entry:
        00000000  00000f01 R_XTENSA_32            00000000   leaf + 0

        Relocation section '.rela.xt.prop' at offset 0x320 contains 1 entry:
        0000000c  00000501 R_XTENSA_32            00000000   .text.cb + 0
        """)
        # cb: a literal no call consumes (a function pointer); ext and log_ev.isra.0: long calls;
        # .rodata.use: use's own switch table; leaf: a table entry
        self.assertEqual(fsr.address_taken(readelf_r), {"cb", "leaf"})

    def test_library_functions_from_arm_disassembly(self):
        dis = textwrap.dedent("""\
        00001000 <snprintf>:
            1000:	push	{r2, r3}
            1002:	push	{r0, r1, r2, r4, lr}
            1004:	sub	sp, #24
            1006:	bl	2000 <vfprintf>
            100a:	b.n	1004 <snprintf+0x4>

        00002000 <vfprintf>:
            2000:	push.w	{r4, r5, r6, r7, r8, r9, sl, fp, lr}
            2004:	vpush	{d8-d9}
            2008:	sub.w	sp, sp, #1024
            200c:	blx	r3
            200e:	b.w	3000 <__udivmoddi4>

        00003000 <memset>:
            3000:	sub	sp, r2

        00004000 <tail_through_pointer>:
            4000:	bx	r3

        00004010 <returns>:
            4010:	bx	lr
        """)
        funcs = fsr.library_funcs(dis, {"snprintf", "vfprintf", "memset", "tail_through_pointer", "returns"},
                                  lambda a: None)
        self.assertEqual(funcs["tail_through_pointer"].callees, {fsr.INDIRECT})
        self.assertEqual(funcs["returns"].callees, set())
        self.assertEqual(funcs["snprintf"].frame, 8 + 20 + 24)
        self.assertEqual(funcs["snprintf"].callees, {"vfprintf"})
        self.assertEqual(funcs["vfprintf"].frame, 9 * 4 + 2 * 8 + 1024)
        self.assertEqual(funcs["vfprintf"].callees, {fsr.INDIRECT, "__udivmoddi4"})
        self.assertEqual(funcs["memset"].qualifier, "dynamic")

    def test_library_functions_from_xtensa_disassembly(self):
        dis = textwrap.dedent("""\
        40226eb0 <__f_vfprintf>:
        40226eb0:	movi	a9, 160
        40226eb3:	sub	a1, a1, a9
        40226eb6:	l32r	a0, 40210010 <_stext+0x10>
        40226eb9:	callx0	a0
        40226ebc:	call0	40227000 <strlen>
        40226ebf:	l32r	a2, 40210014 <_stext+0x14>
        40226ec2:	callx0	a2

        40227000 <strlen>:
        40227000:	addi	a1, a1, -16
        """)
        words = {0x40210010: 0x40227000, 0x40210014: 0x3FFE0000}
        funcs = fsr.library_funcs(dis, {"__f_vfprintf", "strlen"}, words.get)
        self.assertEqual(funcs["__f_vfprintf"].frame, 160)
        self.assertEqual(funcs["strlen"].frame, 16)
        # a literal word resolves the long call; measure() maps words to names (0x40227000 -> strlen)
        self.assertEqual(funcs["__f_vfprintf"].callees, {0x40227000, "strlen", 0x3FFE0000})


class BudgetsAndFootprint(unittest.TestCase):
    def test_budgets_are_the_chip_profiles(self):
        b = fsr.load_budgets(os.path.join(ROOT, "emulators", "common", "chip_profile.cpp"))
        # docs/emulators.md "Chip profiles": app_ram_bytes and the application flash region
        self.assertEqual({m: (v["app_ram_bytes"], v["app_flash_bytes"]) for m, v in b.items()},
                         {"esp8266": (51200, 983040), "esp32": (122880, 1048576), "rtl8710": (98304, 479232),
                          "rtl8195": (196608, 479232)})
        self.assertEqual(b["esp8266"]["chip"], "ESP8266EX")

    def test_exceeding_a_budget_names_target_chip_figure_and_budget(self):
        rep = {"target": "lx106", "recursion": [], "dynamic": [], "ram_bytes": 60000, "flash_bytes": 1000,
               "static_ram_bytes": 40000, "stack_bytes": 20000}
        budgets = {"esp8266": {"chip": "ESP8266EX", "app_ram_bytes": 51200, "app_flash_bytes": 983040},
                   "esp32": {"chip": "ESP32-D0WD", "app_ram_bytes": 122880, "app_flash_bytes": 500}}
        fails = fsr.judge(rep, budgets)
        self.assertEqual(fails, [
            "lx106: esp8266 (ESP8266EX): RAM 60000 bytes (static 40000 + stack 20000) exceeds the budget "
            "app_ram_bytes = 51200",
            "lx106: esp32 (ESP32-D0WD): flash 1000 bytes exceeds the budget app_flash_bytes = 500"])
        self.assertEqual([r["proxy"] != "" for r in rep["budgets"]], [False, True])  # esp32 by the lx106 proxy

    def test_footprint_round_trip_and_checked_in_header_is_complete(self):
        reps = [{"target": t, "elf": f"/x/{t}.elf", "compiler_version": "12", "flash_bytes": 10 + i,
                 "static_ram_bytes": 20 + i, "stack_bytes": 30 + i} for i, t in enumerate(fsr.TARGETS)]
        back = fsr.read_footprint(fsr.footprint_text(reps))
        self.assertEqual({t: (r["flash_bytes"], r["static_ram_bytes"], r["stack_bytes"]) for t, r in back.items()},
                         {t: (10 + i, 20 + i, 30 + i) for i, t in enumerate(fsr.TARGETS)})
        # a target measured now replaces its row; the others keep theirs
        newer = fsr.read_footprint(fsr.footprint_text([dict(reps[0], stack_bytes=99)], back))
        self.assertEqual(newer[reps[0]["target"]]["stack_bytes"], 99)
        self.assertEqual(newer[reps[1]["target"]]["stack_bytes"], 31)
        with self.assertRaisesRegex(fsr.ReportError, "never measured"):
            fsr.footprint_text(reps[:1])
        with open(os.path.join(ROOT, fsr.FOOTPRINT_HEADER)) as f:
            self.assertEqual(set(fsr.read_footprint(f.read())), set(fsr.TARGETS))

    def test_declared_nanopb_depths_cover_the_schema_nesting(self):
        # tools/firmware_stack_bounds.json: nanopb recurses once per submessage level of iotw.proto
        with open(os.path.join(ROOT, "protocol", "proto", "iotw.proto")) as f:
            proto = f.read()
        messages = {m.group(1): m.group(2) for m in re.finditer(r"^message (\w+) \{(.*?)^\}", proto, re.M | re.S)}

        def depth(name):
            fields = re.findall(r"^\s+(?:repeated\s+)?(\w+)\s+\w+\s*=", messages[name], re.M)
            return 1 + max((depth(t) for t in fields if t in messages), default=0)

        nesting = max(depth(m) for m in messages)
        bounds = fsr.load_bounds(os.path.join(ROOT, "tools", "firmware_stack_bounds.json"))
        for fn in ("pb_encode", "pb_decode_inner", "pb_message_set_to_defaults", "pb_check_proto3_default_value"):
            self.assertGreaterEqual(bounds["recursion"][fn]["depth"], nesting, fn)


class WithGcc(unittest.TestCase):
    """End to end: GCC's own .ci/.su output, a linked picolibc image, the binutils; needs arm-none-eabi-gcc."""

    def test_measured_image(self):
        d = tempfile.mkdtemp(prefix="fsr_gcc_")
        try:
            src = os.path.join(d, "t.c")
            with open(src, "w") as f:
                f.write(textwrap.dedent("""\
                    #include <string.h>
                    typedef struct { int (*op)(const char *, int); } port_t;
                    static char big_bss[3000];
                    int counter = 7;
                    static int deep_op(const char *s, int n) {
                      volatile char buf[700]; buf[0] = s[0]; return buf[0] + n; }
                    static int shallow_op(const char *s, int n) { return s[0] - n; }
                    __attribute__((noinline)) static int use(const port_t *p, int n) {
                      volatile char frame[200]; frame[0] = (char)n;
                      return p->op((const char *)frame, n); }
                    port_t ports[2] = {{deep_op}, {shallow_op}};  /* a port table: calls through it are indirect */
                    volatile int which;
                    int main(void) { big_bss[counter] = 1;
                                     return use(&ports[which], 1) + (int)strlen(big_bss); }
                    """))
            obj = os.path.join(d, "t.o")
            cc = ["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", "-Os", "-ffunction-sections", "-fdata-sections",
                  "-fstack-usage", "-fcallgraph-info=su", "--specs=picolibc.specs"]
            subprocess.run(cc + ["-c", src, "-o", obj], check=True)
            elf = os.path.join(d, "t.elf")
            subprocess.run(cc + ["-Wl,--gc-sections", "-Wl,-Map=" + os.path.join(d, "t.map"), obj, "-o", elf,
                                 "-lsemihost"], check=True)
            # another image's object in the same folder (its own main) is not part of this image
            with open(os.path.join(d, "other.c"), "w") as f:
                f.write("int main(void) { volatile char huge[9000]; huge[0] = 1; return huge[0]; }\n")
            subprocess.run(cc + ["-c", os.path.join(d, "other.c"), "-o", os.path.join(d, "other.o")], check=True)
            r = fsr.measure("cortex-m3", d, elf, {"indirect_nesting": 1})
            self.assertEqual(r["recursion"], [])
            self.assertGreaterEqual(r["static_ram_bytes"], 3000 + 4)
            self.assertGreaterEqual(r["data_bytes"], 4)
            self.assertIn("deep_op", r["indirect_targets"])
            self.assertIn("shallow_op", r["indirect_targets"])
            # main -> use (>= 200) -> indirect = deep_op (>= 700): the deeper port function
            names = [n for n, _ in r["stack_path"]]
            self.assertTrue(any(n.startswith("use") for n in names), names)  # use, or a clone use.constprop.0
            self.assertGreaterEqual(r["indirect_call_bytes"], 700)
            self.assertGreaterEqual(r["stack_bytes"], 900)
            self.assertLess(r["stack_bytes"], 9000)  # other.o's main is not in the image's map
            self.assertGreater(r["flash_bytes"], 0)
            self.assertIn("strlen", r["library_functions"])  # picolibc's, measured from its disassembly
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    if "--gcc" in sys.argv:
        sys.argv.remove("--gcc")
        if not shutil.which("arm-none-eabi-gcc"):
            print("SKIPPED: arm-none-eabi-gcc not found (Debian: apt-get install gcc-arm-none-eabi "
                  "picolibc-arm-none-eabi)")
            sys.exit(77)
        unittest.main(defaultTest="WithGcc", verbosity=2)
    unittest.main(defaultTest=["CallGraph", "Binutils", "BudgetsAndFootprint"], verbosity=2)
