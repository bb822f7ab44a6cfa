#!/usr/bin/env python3
"""Size report and budget gate of the firmware's cross builds (issue 18; docs/firmware.md "Size report and budgets").

For each cross target folder (build/cross/<target>/, target = cortex-m3 | cortex-m4 | lx106) and its ELF image:

  flash      = every allocated section with contents (text, rodata, the load image of .data, vectors, ...)
  static RAM = the bytes of the sections in the target's data RAM (data + bss), less the linker script's
               reserved .stack / .heap
  stack      = the worst-case stack along the call graph: GCC's -fcallgraph-info=su graphs (*.ci, VCG) of the
               objects the link map names, with the frame sizes of -fstack-usage (*.su), summed along the deepest
               path from every root (a function nobody calls: _start / main / the interrupt entry points), plus
               every interrupt entry's own

and the budgets of the chip profiles (emulators/common/chip_profile.cpp: app_ram_bytes, app_flash_bytes):
RAM needed = static RAM + stack. Exit 1 when a budget is exceeded or the stack cannot be bounded (recursion, a
dynamic frame), 2 on a usage error or a missing tool. Python 3 standard library only; the figures come from the
target's binutils (<prefix>-readelf -S/-s/-r, <prefix>-objdump -d).

Indirect calls (the core calls its port through iotw_port's function pointers; nanopb its stream callbacks) are
invisible to GCC's graph. They are resolved conservatively: an indirect call costs the deepest stack of any
function whose address is taken anywhere in the image's objects (a relocation that is not a call, e.g. a port
table initialiser or a callback argument), nested as deep as tools/firmware_stack_bounds.json declares. Call cycles
fail unless that file bounds their depth (nanopb's submessage recursion). Functions linked from precompiled
libraries (picolibc, libgcc: no .su) are measured from their disassembly: stack-pointer adjustments and calls.
"""
from __future__ import annotations

import argparse
import ast
import glob
import json
import operator
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

# Target -> binutils prefix, the chip profiles it stands for, the exception frame an interrupt pushes, and the data
# RAM's address window (ARMv7-M: the SRAM region; ESP8266: dram0, 80 KiB below 0x40000000; its IRAM holds code).
TARGETS = {
    "cortex-m3": {"prefix": "arm-none-eabi", "chips": ["rtl8195"], "isr_frame": 32,
                  "ram": (0x20000000, 0x40000000), "note": "ARMv7-M basic exception frame: 8 words"},
    "cortex-m4": {"prefix": "arm-none-eabi", "chips": ["rtl8710"], "isr_frame": 104,
                  "ram": (0x20000000, 0x40000000), "note": "ARMv7-M extended frame with the FPU context: 26 words"},
    "lx106": {"prefix": "xtensa-lx106-elf", "chips": ["esp8266", "esp32"], "isr_frame": 0,
              "ram": (0x3FFE8000, 0x40000000), "note": "interrupt vectors belong to the SDK, outside this image"},
}
# Debian has no Xtensa LX6 toolchain: the esp32 row is checked with the lx106 (ESP8266) figures as its proxy.
PROXY_NOTE = {"esp32": "lx106 figures as the proxy (Debian has no Xtensa LX6 toolchain)"}
# The image each target links (docs/firmware.md, cross build contract).
DEFAULT_ELF = {"cortex-m3": "iotw_fw_lm3s6965.elf", "cortex-m4": "iotw_fw_cortex_m4.elf",
               "lx106": "iotw_fw_esp8266.elf"}
# Debian packages that provide each target's toolchain.
PACKAGES = {"arm-none-eabi": "gcc-arm-none-eabi picolibc-arm-none-eabi",
            "xtensa-lx106-elf": "gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf"}
# Interrupt entry points (preempt the thread that runs main): ARM CMSIS names. Reset_Handler is the thread's root.
ISR_RE = re.compile(r"(_Handler|IRQHandler|_isr)$")
# Linker-script reservations that are not the program's static data.
RESERVED_SECTIONS = {".stack", ".heap", ".stack_dummy", ".heap_dummy"}
INDIRECT = "__indirect_call"
# Entry points whose address a start-up file takes: roots, never the target of an indirect call.
ENTRY_POINTS = {"main", "_start", "__start", "Reset_Handler", "_reset", "call_user_start"}
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ReportError(Exception):
    """A usage error or a missing tool: exit 2."""


# ----------------------------------------------------------------------------------------------------------- budgets

_OPS = {ast.Mult: operator.mul, ast.LShift: operator.lshift, ast.Add: operator.add, ast.Sub: operator.sub}


def _eval_int(expr: str) -> int:
    """A C integer constant expression of the profile source: literals (0x.., u suffix), * << + -."""
    expr = re.sub(r"(?<=[0-9a-fA-F])[uU]\b", "", expr.replace("'", ""))

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, int):
            return n.value
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            return _OPS[type(n.op)](ev(n.left), ev(n.right))
        raise ValueError(f"not a constant expression: {expr!r}")

    return ev(ast.parse(expr.strip(), mode="eval"))


def load_budgets(profile_cpp: str) -> dict:
    """{model: {"chip", "app_ram_bytes", "app_flash_bytes"}} from chip_profile.cpp's designated initialisers."""
    with open(profile_cpp, encoding="utf-8") as f:
        src = f.read()
    out = {}
    for block in re.split(r"\n\s*\{\s*\n\s*\.model\s*=", src)[1:]:
        def field_of(name):
            m = re.search(r"\." + name + r"\s*=\s*([^,\n]+),", block)
            if not m:
                raise ReportError(f"{profile_cpp}: no .{name} in a profile")
            return m.group(1).strip()
        model = re.match(r'\s*"([^"]+)"', block).group(1)
        out[model] = {"chip": field_of("chip").strip('"'), "app_ram_bytes": _eval_int(field_of("app_ram_bytes")),
                      "app_flash_bytes": _eval_int(field_of("app_flash_bytes"))}
    if not out:
        raise ReportError(f"{profile_cpp}: no chip profile found")
    return out


# -------------------------------------------------------------------------------------------------------- call graph

@dataclass
class Func:
    title: str                 # the graph's node title: "name" (external linkage) or "path:name" (static)
    symbol: str                # the ELF symbol
    frame: int = 0             # bytes of its own frame
    qualifier: str = "static"  # -fstack-usage: static | dynamic | dynamic,bounded
    where: str = ""            # path:line:col, or "disassembly"
    label_name: str = ""       # the name GCC's graph and .su print (log_ev.isra for the symbol log_ev.isra.0)
    callees: set = field(default_factory=set)
    address_taken: bool = False


@dataclass
class Graph:
    funcs: dict = field(default_factory=dict)    # title -> Func (defined functions only)
    edges: dict = field(default_factory=dict)    # title -> set of target titles (may name undefined ones)
    objects: list = field(default_factory=list)  # the .o files next to the .ci files


_NODE = re.compile(r'node:\s*\{\s*title:\s*"([^"]*)"\s*label:\s*"([^"]*)"')
_EDGE = re.compile(r'edge:\s*\{\s*sourcename:\s*"([^"]*)"\s*targetname:\s*"([^"]*)"')
_FRAME = re.compile(r"(\d+) bytes \(([a-z,]+)\)")


def parse_ci(text: str, graph: Graph) -> None:
    """Adds one -fcallgraph-info=su file (VCG) to graph: defined nodes carry '\\nN bytes (qualifier)'."""
    for m in _NODE.finditer(text):
        title, label = m.group(1), m.group(2)
        parts = label.split("\\n")
        fm = _FRAME.search(label)
        if not fm:
            continue  # a declaration (defined in another unit, a library, or a builtin)
        f = graph.funcs.get(title)
        if f is None:
            f = graph.funcs[title] = Func(title, title.rsplit(":", 1)[-1])
        f.frame, f.qualifier = int(fm.group(1)), fm.group(2)
        f.where = parts[1] if len(parts) > 2 else ""
        f.label_name = parts[0]
    for m in _EDGE.finditer(text):
        graph.edges.setdefault(m.group(1), set()).add(m.group(2))


def parse_su(text: str) -> dict:
    """{(path:line:col, name): (bytes, qualifier)} of one -fstack-usage file."""
    out = {}
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) != 3:
            continue
        loc, name = cols[0].rsplit(":", 1)
        out[(loc, name)] = (int(cols[1]), cols[2].strip())
    return out


def linked_objects(map_text: str) -> set:
    """The input objects a GNU ld map names (paths, and archive members by name): what the image is made of."""
    return set(re.findall(r"[^\s()]+\.(?:o|obj)\b", map_text))


def _linked(base: str, folder: str, linked: set | None) -> bool:
    """Whether the object of a .ci/.su file (its path without the extension) is one the image links: the map
    names a direct object by its path (relative to the build folder, or absolute), an archive member by its name."""
    if linked is None:
        return True
    for n in (base + ".o", base + ".obj"):
        if os.path.relpath(n, folder) in linked or os.path.abspath(n) in linked or os.path.basename(n) in linked:
            return True
    return False


def load_graph(folder: str, linked: set | None = None) -> Graph:
    """Every *.ci under folder whose object the image links (linked: linked_objects of its map; None = all),
    cross-checked against the *.su next to it."""
    g = Graph()
    cis = sorted(p for p in glob.glob(os.path.join(folder, "**", "*.ci"), recursive=True)
                 if _linked(p[:-3], folder, linked))
    sus = sorted(p for p in glob.glob(os.path.join(folder, "**", "*.su"), recursive=True)
                 if _linked(p[:-3], folder, linked))
    if not cis:
        raise ReportError(f"{folder}: no *.ci call graphs (compile with -fcallgraph-info=su)")
    su_all = {}
    for p in sus:
        with open(p, encoding="utf-8", errors="replace") as f:
            su_all.update(parse_su(f.read()))
    for p in cis:
        with open(p, encoding="utf-8", errors="replace") as f:
            parse_ci(f.read(), g)
        base = p[:-3]
        for cand in (base + ".o", base + ".obj", base + ".c.o", base + ".c.obj"):
            if os.path.exists(cand):
                g.objects.append(cand)
                break
    # .su is the frame authority: a function whose .su figure disagrees with its graph node, or a .su entry with
    # no node at all (a unit compiled without -fcallgraph-info), is an error, not a guess.
    seen = set()
    for f in g.funcs.values():
        key = (f.where, f.label_name or f.symbol)
        if key in su_all:
            f.frame, f.qualifier = su_all[key]
            seen.add(key)
        elif sus:
            raise ReportError(f"{f.where}: {f.symbol}: in the call graph but in no .su file")
    missing = [f"{loc}:{name}" for (loc, name) in su_all if (loc, name) not in seen]
    if missing:
        raise ReportError(f"{len(missing)} function(s) in .su files but in no .ci call graph, e.g. {missing[0]}")
    return g


# ------------------------------------------------------------------------------------------------------ binutils

def find_tool(prefix: str, tool: str, compiler: str | None) -> str:
    """<prefix>-<tool> next to the compiler, else on PATH."""
    names = [f"{prefix}-{tool}"]
    if compiler:
        cand = os.path.join(os.path.dirname(compiler), f"{prefix}-{tool}")
        if os.access(cand, os.X_OK):
            return cand
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    raise ReportError(f"{prefix}-{tool} not found (Debian: apt-get install {PACKAGES.get(prefix, prefix)})")


def run(cmd: list) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise ReportError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def cmake_compiler(folder: str) -> str | None:
    cache = os.path.join(folder, "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache, encoding="utf-8", errors="replace") as f:
            m = re.search(r"^CMAKE_C_COMPILER:\w+=(.+)$", f.read(), re.M)
            if m:
                return m.group(1).strip()
    return None


@dataclass
class Sections:
    flash: int = 0
    static_ram: int = 0
    data: int = 0
    bss: int = 0
    reserved: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)  # (name, size, "flash"|"ram"|"flash+ram"|"reserved")


_SECTION = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+([A-Za-z]*)")


def parse_sections(readelf_s: str, ram: tuple) -> Sections:
    """Classifies readelf -SW's allocated sections. flash: every one with contents (PROGBITS: code, constants,
    vectors, and .data's load image). static RAM: the bytes the sections inside the target's data-RAM window
    [ram[0], ram[1]) occupy, counted once where sections overlap (picolibc's .tbss and the .tbss_space that holds
    it); data = the ones with contents, bss = the rest. Not the flags: the ARM vectors (.init) are writable at
    address 0, in flash; the ESP8266 keeps its .rodata in data RAM."""
    s = Sections()
    spans = []
    for line in readelf_s.splitlines():
        m = _SECTION.match(line)
        if not m:
            continue
        name, typ, addr, size, flags = m.group(1), m.group(2), int(m.group(3), 16), int(m.group(4), 16), m.group(5)
        if "A" not in flags or size == 0:
            continue
        if name in RESERVED_SECTIONS:
            s.reserved[name] = size
            s.rows.append((name, size, "reserved"))
            continue
        in_ram = ram[0] <= addr < ram[1]
        if typ != "NOBITS":
            s.flash += size
        if in_ram:
            spans.append((addr, addr + size, typ != "NOBITS"))
        s.rows.append((name, size, ("flash+ram" if typ != "NOBITS" else "ram") if in_ram else "flash"))
    # the union of the RAM spans; a byte with contents in any section is data
    end = None
    for lo, hi, contents in sorted(spans):
        lo = max(lo, end) if end is not None else lo
        if hi <= lo:
            continue
        s.static_ram += hi - lo
        if contents:
            s.data += hi - lo
        end = hi
    s.bss = s.static_ram - s.data
    return s


def parse_symbols(readelf_s: str) -> dict:
    """{symbol: address} of the image's functions (readelf -sW: type FUNC, defined). Not nm's letters: picolibc's
    linker script puts .rodata in the text segment, where nm calls constant tables 'T'."""
    funcs = {}
    for line in readelf_s.splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[3] == "FUNC" and cols[6] != "UND":
            funcs[cols[7]] = int(cols[1], 16)
    return funcs


# ---------------------------------------------------------------------------------------------- address-taken

_CALL_RELOCS = {"R_ARM_CALL", "R_ARM_JUMP24", "R_ARM_THM_CALL", "R_ARM_THM_JUMP24", "R_ARM_THM_JUMP19",
                "R_ARM_PC24", "R_ARM_THM_JUMP11", "R_ARM_THM_JUMP8", "R_ARM_V4BX", "R_ARM_NONE",
                "R_XTENSA_SLOT0_OP", "R_XTENSA_ASM_EXPAND", "R_XTENSA_NONE", "R_XTENSA_DIFF8", "R_XTENSA_DIFF16",
                "R_XTENSA_DIFF32"}
_META = re.compile(r"^\.rela?\.(debug|ARM\.exidx|ARM\.extab|eh_frame|xt\.|xtensa\.|comment|note|stack_sizes)")


def address_taken(readelf_r: str) -> set:
    """Function names whose address one object takes: any relocation that is not a call (a port table
    initialiser, a callback argument). Xtensa -mlongcalls loads a call's target from a literal (R_XTENSA_32 in
    .literal.*); a literal whose symbol is also named by an R_XTENSA_ASM_EXPAND (the call it feeds) is a call."""
    refs, expanded, section = [], set(), ""
    for line in readelf_r.splitlines():
        m = re.match(r"^Relocation section '([^']+)'", line)
        if m:
            section = m.group(1)
            continue
        cols = line.split()
        if len(cols) < 5 or not re.fullmatch(r"[0-9a-f]{8,16}", cols[0]) or not cols[2].startswith("R_"):
            continue
        typ, sym = cols[2], cols[4]
        addend = int(cols[6], 16) if len(cols) >= 7 and cols[5] in "+-" else 0
        in_section = sym.startswith(".text.")
        # a static function's section names it; Xtensa spells log_ev.isra.0 log_ev$isra$0
        sym = (sym[len(".text."):] if in_section else sym).replace("$", ".")
        if typ == "R_XTENSA_ASM_EXPAND":
            expanded.add(sym)
        if _META.match(section) or typ in _CALL_RELOCS or "vector" in section:
            continue  # debug/unwind data, a call, or the interrupt vector table (its entries are roots)
        if (in_section and addend) or section == ".rela.rodata." + sym:
            continue  # an address inside a function: its switch's jump table, not its entry
        if sym in ENTRY_POINTS:
            continue
        refs.append((section, sym))
    # Xtensa: a literal (in .literal.* or, with -mtext-section-literals, in .text.*) that feeds a long call
    return {sym for section, sym in refs
            if not (sym in expanded and re.match(r"^\.rela\.(literal|text)", section))}


# --------------------------------------------------------------------------------------------- disassembly

_FUNC_HDR = re.compile(r"^([0-9a-f]+) <([^>]+)>:$")
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")


def _reglist_bytes(regs: str) -> int:
    n = 0
    for part in regs.split(","):
        part = part.strip()
        m = re.fullmatch(r"([rsd])(\d+)-[rsd](\d+)", part)
        if m:
            cnt = int(m.group(3)) - int(m.group(2)) + 1
            n += cnt * (8 if m.group(1) == "d" else 4)
        elif part:
            n += 8 if part.startswith("d") else 4
    return n


def _imm(s: str) -> int:
    return int(s, 16) if s.lower().startswith("0x") else int(s)


def library_funcs(objdump_d: str, names: set, word_at) -> dict:
    """Func entries for the named functions (precompiled library code, no .su) from the ELF's disassembly: the
    frame = the stack-pointer adjustments of the function (ARM push/vpush/sub sp; Xtensa call0 addi/addmi a1);
    callees = direct calls and tail branches (Xtensa: also l32r + callx0 through a literal naming a function).
    word_at(addr) -> the 32-bit word at a literal's address, or None."""
    out, cur, lits, consts = {}, None, {}, {}
    for line in objdump_d.splitlines():
        h = _FUNC_HDR.match(line)
        if h:
            cur = Func(h.group(2), h.group(2), where="disassembly") if h.group(2) in names else None
            if cur:
                out[cur.title] = cur
            lits, consts = {}, {}
            continue
        if cur is None:
            continue
        m = _INSN.match(line)
        if not m:
            continue
        op, args = m.group(2), m.group(3)
        target = re.search(r"<([^>+]+)(\+0x[0-9a-f]+)?>", args)
        if op in ("push", "push.w", "stmdb", "stmfd") and ("sp!" in args or op.startswith("push")):
            rl = re.search(r"\{([^}]*)\}", args)
            cur.frame += _reglist_bytes(rl.group(1)) if rl else 0
        elif op in ("vpush", "vpush.64", "vpush.32", "vstmdb"):
            rl = re.search(r"\{([^}]*)\}", args)
            cur.frame += _reglist_bytes(rl.group(1)) if rl else 0
        elif re.fullmatch(r"sub(\.w|w|s)?", op) and re.match(r"sp,\s*(sp,\s*)?#", args):
            cur.frame += _imm(args.split("#")[1].split()[0])
        elif re.fullmatch(r"sub(\.w|s)?", op) and re.match(r"sp,\s*(sp,\s*)?r\d+", args):
            cur.qualifier = "dynamic"
        elif op in ("addi", "addmi") and re.match(r"a1,\s*a1,\s*-", args):
            cur.frame += -_imm(args.split(",")[2].strip())
        elif op == "sub" and re.match(r"a1,\s*a1,\s*a\d+", args):
            reg = args.split(",")[2].strip()
            if isinstance(consts.get(reg), int):
                cur.frame += consts[reg]  # a big frame: movi aN, SIZE; sub a1, a1, aN
            else:
                cur.qualifier = "dynamic"
        elif op in ("movi", "movi.n") and re.match(r"a\d+,\s*-?\d+$", args):
            reg, val = (x.strip() for x in args.split(","))
            consts[reg] = int(val)
        elif op in ("bl", "blx", "call0", "call4", "call8", "call12") and target:
            cur.callees.add(target.group(1))
        elif op == "bx" and re.fullmatch(r"r\d+", args.strip()):
            cur.callees.add(INDIRECT)  # a tail call through a register (bx lr is a return)
        elif op in ("blx", "callx0", "callx4", "callx8", "callx12") and not target:
            reg = args.split(",")[0].strip()
            sym = lits.get(reg)
            cur.callees.add(sym if sym else INDIRECT)
        elif op == "l32r":
            a = re.match(r"(a\d+),\s*([0-9a-f]+)", args)
            if a:
                w = word_at(int(a.group(2), 16))
                lits[a.group(1)] = w
        elif re.fullmatch(r"(b|j)(\.[wn])?|b(eq|ne|cs|cc|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)(\.[wn])?", op) and target \
                and target.group(1) != cur.title and not target.group(2):
            cur.callees.add(target.group(1))  # a tail call into another function
    return out


class ElfImage:
    """Loadable bytes of a 32-bit little-endian ELF, to read literal words (Xtensa l32r) by address."""

    def __init__(self, path: str):
        import struct
        with open(path, "rb") as f:
            self.data = f.read()
        if self.data[:4] != b"\x7fELF" or self.data[4] != 1 or self.data[5] != 1:
            raise ReportError(f"{path}: not a 32-bit little-endian ELF")
        self.struct = struct
        shoff, = struct.unpack_from("<I", self.data, 0x20)
        shentsize, shnum = struct.unpack_from("<HH", self.data, 0x2E)
        self.machine, = struct.unpack_from("<H", self.data, 0x12)
        self.sections = []
        for i in range(shnum):
            _, typ, _, addr, off, size = struct.unpack_from("<IIIIII", self.data, shoff + i * shentsize)
            if typ == 1 and addr:  # PROGBITS with an address
                self.sections.append((addr, off, size))

    def word_at(self, addr: int):
        for a, off, size in self.sections:
            if a <= addr and addr + 4 <= a + size:
                return self.struct.unpack_from("<I", self.data, off + addr - a)[0]
        return None


# ------------------------------------------------------------------------------------------- worst-case stack

@dataclass
class StackResult:
    worst: int = 0                    # bytes: the deepest thread path + every interrupt root (+ its frame)
    path: list = field(default_factory=list)        # the deepest thread path, root first: (name, bytes)
    roots: dict = field(default_factory=dict)       # root -> its deepest stack, bytes
    isr_roots: list = field(default_factory=list)
    indirect_targets: list = field(default_factory=list)
    indirect_cost: int = 0            # bytes an indirect call costs (after indirect_nesting levels)
    indirect_nesting: int = 0
    indirect_path: list = field(default_factory=list)  # the deepest address-taken function's path
    recursion: list = field(default_factory=list)   # unbounded cycles, each a list of symbols
    bounded: list = field(default_factory=list)     # (members, depth, bytes) of the cycles with a declared bound
    dynamic: list = field(default_factory=list)     # functions with an unbounded dynamic frame
    unknown: list = field(default_factory=list)     # callees in the image with no frame figure at all
    library: list = field(default_factory=list)     # functions measured from disassembly


def _sccs(nodes: list, succ: dict) -> list:
    """Tarjan's strongly connected components, iteratively (call graphs of libraries are deep)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(succ.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(succ.get(nxt, ())))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def worst_case_stack(g: Graph, isr_frame: int = 0, elf_funcs: set | None = None, bounds: dict | None = None) -> \
        StackResult:
    """The deepest stack of g. elf_funcs (symbols in the linked image) drops what --gc-sections removed; None
    keeps every function. bounds (tools/firmware_stack_bounds.json): {"indirect_nesting": K, "recursion":
    {symbol: depth}}. An indirect call costs the deepest address-taken function, whose own indirect calls cost
    the same one level down, K levels deep (level 0: nothing). A call cycle (an SCC of the graph) is unbounded
    unless one member has a declared depth N; then entering it costs N x (every member's frame) plus its deepest
    exit: every member on the stack at every level, an upper bound of any path through it."""
    bounds = bounds or {}
    res = StackResult(indirect_nesting=int(bounds.get("indirect_nesting", 1)))
    rec_bounds = {k: int(v["depth"] if isinstance(v, dict) else v) for k, v in bounds.get("recursion", {}).items()}
    funcs = {t: f for t, f in g.funcs.items() if elf_funcs is None or f.symbol in elf_funcs}
    by_symbol = {}
    for t, f in funcs.items():
        by_symbol.setdefault(f.symbol, t)

    def resolve(target: str) -> str | None:
        if target == INDIRECT:
            return INDIRECT
        if target in funcs:
            return target
        return by_symbol.get(target.rsplit(":", 1)[-1])

    succ, unknown = {}, set()
    for t in funcs:
        out = set()
        for tgt in set(g.edges.get(t, ())) | set(funcs[t].callees):
            r = resolve(tgt)
            if r is None:
                if elf_funcs is not None and tgt.rsplit(":", 1)[-1] in elf_funcs:
                    unknown.add(tgt)
                continue  # a builtin GCC expanded inline, or a function --gc-sections dropped
            out.add(r)
        succ[t] = out
    res.unknown = sorted(unknown)
    targets = sorted(t for t, f in funcs.items() if f.address_taken)
    res.indirect_targets = [funcs[t].symbol for t in targets]
    res.dynamic = sorted(f.symbol for f in funcs.values() if f.qualifier.startswith("dynamic")
                         and "bounded" not in f.qualifier)

    # Collapse every strongly connected component (a call cycle) into one node.
    comp_of, comps = {}, []
    for comp in _sccs(sorted(funcs), {t: {c for c in out if c != INDIRECT} for t, out in succ.items()}):
        cid = len(comps)
        cyclic = len(comp) > 1 or comp[0] in succ.get(comp[0], ())
        depth = 1
        if cyclic:
            names = [funcs[t].symbol for t in comp]
            declared = [rec_bounds[n] for n in names if n in rec_bounds]
            if declared:
                depth = max(declared)
                res.bounded.append((names, depth, depth * sum(funcs[t].frame for t in comp)))
            else:
                res.recursion.append(names)
        comps.append({"members": comp, "frame": depth * sum(funcs[t].frame for t in comp), "cyclic": cyclic,
                      "depth": depth, "succ": set(), "indirect": False})
        for t in comp:
            comp_of[t] = cid
    for t, out in succ.items():
        c = comps[comp_of[t]]
        for s in out:
            if s == INDIRECT:
                c["indirect"] = True
            elif comp_of[s] != comp_of[t]:
                c["succ"].add(comp_of[s])

    def longest(indirect_cost: int) -> dict:
        """{component: (bytes, [component path])}, the DAG's longest paths, an indirect call costing indirect_cost."""
        memo = {}
        for cid in range(len(comps)):  # Tarjan emits components callees first: a reverse topological order
            c = comps[cid]
            best = (indirect_cost, ["indirect"]) if c["indirect"] else (0, [])
            for s in sorted(c["succ"]):
                if memo[s][0] > best[0]:
                    best = (memo[s][0], [s] + memo[s][1])
            memo[cid] = (c["frame"] + best[0], best[1])
        return memo

    cost, inner_cost, inner_memo = 0, 0, longest(0)
    for _ in range(res.indirect_nesting):
        inner_cost, inner_memo = cost, longest(cost)  # level k: its targets' own indirect calls cost level k-1
        cost = max((inner_memo[comp_of[t]][0] for t in targets), default=0)
    res.indirect_cost = cost
    memo = longest(cost)

    called = set()
    for t, out in succ.items():
        called |= {s for s in out if s != INDIRECT and comp_of[s] != comp_of[t]}
    roots = sorted(t for t in funcs if t not in called and not comps[comp_of[t]]["cyclic"])

    def label(cid, indirect_cost=None):
        if cid == "indirect":
            return ("(indirect call)", cost if indirect_cost is None else indirect_cost)
        c = comps[cid]
        if c["cyclic"]:
            return (f"[cycle x{c['depth']}: {' '.join(funcs[t].symbol for t in c['members'])}]", c["frame"])
        return (funcs[c["members"][0]].symbol, c["frame"])

    if targets:  # the path that sets the indirect cost, its own indirect calls at the level below
        deepest = max(targets, key=lambda t: (inner_memo[comp_of[t]][0], t))
        res.indirect_path = [label(comp_of[deepest])] + [label(c, inner_cost)
                                                         for c in inner_memo[comp_of[deepest]][1]]
    thread_best, fault_worst = (-1, None), 0
    for r in roots:
        d = memo[comp_of[r]][0]
        sym = funcs[r].symbol
        res.roots[sym] = d
        if ISR_RE.search(sym) and sym != "Reset_Handler":
            res.isr_roots.append(sym)
            if "fault" in sym.lower():  # at most one fault handler runs: a fault in it escalates to a lock-up
                fault_worst = max(fault_worst, d + isr_frame)
            else:
                res.worst += d + isr_frame
        elif d > thread_best[0]:
            thread_best = (d, comp_of[r])
    res.worst += fault_worst
    if thread_best[1] is not None:
        res.worst += thread_best[0]
        res.path = [label(thread_best[1])] + [label(c) for c in memo[thread_best[1]][1]]
    res.library = sorted(f.symbol for f in funcs.values() if f.where == "disassembly")
    return res


def load_bounds(path: str) -> dict:
    if not path or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------------------------------------------- a target

def measure(target: str, folder: str, elf: str, bounds: dict, compiler: str | None = None) -> dict:
    """Every figure of one target; raises ReportError for a missing file or tool."""
    if target not in TARGETS:
        raise ReportError(f"unknown target '{target}' (one of {', '.join(TARGETS)})")
    if not os.path.exists(elf):
        raise ReportError(f"{elf}: no such image (build the cross target first: scripts/cross-build.sh)")
    prefix = TARGETS[target]["prefix"]
    compiler = compiler or cmake_compiler(folder)
    readelf, objdump = (find_tool(prefix, t, compiler) for t in ("readelf", "objdump"))
    secs = parse_sections(run([readelf, "-SW", elf]), TARGETS[target]["ram"])
    elf_funcs = parse_symbols(run([readelf, "-sW", elf]))
    # the objects the image links, from its link map (-Map): a folder may hold more than one image's objects
    linked = None
    for m in (os.path.splitext(elf)[0] + ".map", elf + ".map"):
        if os.path.exists(m):
            with open(m, encoding="utf-8", errors="replace") as f:
                linked = linked_objects(f.read())
            break
    g = load_graph(folder, linked)
    taken = set()
    for o in g.objects:
        taken |= address_taken(run([readelf, "-rW", o]))
    # functions that precompiled libraries contribute (no graph node): measured from the disassembly, with the
    # library functions they call in turn
    defined = {f.symbol for f in g.funcs.values()}
    lib = library_funcs(run([objdump, "-d", "--no-show-raw-insn", elf]), set(elf_funcs) - defined,
                        ElfImage(elf).word_at)
    # a literal word that is a function address (ARM: | 1) resolves an l32r/callx0 pair; map it to a name
    addr_to_name = {a & ~1: n for n, a in elf_funcs.items()}
    for f in lib.values():
        f.callees = {(addr_to_name.get(c & ~1, INDIRECT) if isinstance(c, int) else c) for c in f.callees}
        g.funcs.setdefault(f.title, f)
    # an alias (memcpy and __aeabi_memcpy at one address): the disassembly labels only one of them
    labelled = {elf_funcs[n] & ~1: n for n in lib}
    for n in set(elf_funcs) - defined - set(lib):
        if (elf_funcs[n] & ~1) in labelled:
            g.funcs[n] = Func(n, n, where="disassembly", callees={labelled[elf_funcs[n] & ~1]})
    for f in g.funcs.values():
        f.address_taken = f.symbol in taken
    st = worst_case_stack(g, TARGETS[target]["isr_frame"], set(elf_funcs), bounds)
    return {"target": target, "elf": os.path.relpath(elf, ROOT_DIR) if elf.startswith(ROOT_DIR) else elf,
            "flash_bytes": secs.flash, "data_bytes": secs.data, "bss_bytes": secs.bss,
            "static_ram_bytes": secs.static_ram, "stack_bytes": st.worst, "ram_bytes": secs.static_ram + st.worst,
            "reserved_sections": secs.reserved, "sections": [list(r) for r in secs.rows],
            "stack_path": st.path, "roots": st.roots, "isr_roots": st.isr_roots,
            "isr_frame_bytes": TARGETS[target]["isr_frame"],
            "indirect_call_bytes": st.indirect_cost, "indirect_targets": st.indirect_targets,
            "indirect_nesting": st.indirect_nesting, "indirect_path": st.indirect_path,
            "bounded_recursion": [{"members": m, "depth": d, "bytes": b} for m, d, b in st.bounded],
            "library_functions": st.library, "unknown_callees": st.unknown,
            "recursion": st.recursion, "dynamic": st.dynamic,
            "compiler_version": compiler_version(compiler, prefix)}


def compiler_version(compiler: str | None, prefix: str) -> str:
    cc = compiler if compiler and os.path.exists(compiler) else shutil.which(f"{prefix}-gcc")
    if not cc:
        return "unknown"
    try:
        return run([cc, "-dumpversion"]).strip()
    except ReportError:
        return "unknown"


def judge(report: dict, budgets: dict) -> list:
    """Adds report["budgets"] and returns the failure messages (recursion, dynamic stack, a budget exceeded)."""
    t = report["target"]
    fails = []
    for cyc in report["recursion"]:
        fails.append(f"{t}: recursion: {' -> '.join(cyc)}: the stack has no bound")
    for fn in report["dynamic"]:
        fails.append(f"{t}: {fn} has a dynamic (unbounded) stack frame: the stack has no bound")
    report["budgets"] = []
    for chip in TARGETS[t]["chips"]:
        b = budgets[chip]
        row = {"chip": chip, "chip_part": b["chip"], "app_ram_bytes": b["app_ram_bytes"],
               "app_flash_bytes": b["app_flash_bytes"], "ram_fits": report["ram_bytes"] <= b["app_ram_bytes"],
               "flash_fits": report["flash_bytes"] <= b["app_flash_bytes"], "proxy": PROXY_NOTE.get(chip, "")}
        report["budgets"].append(row)
        if not row["ram_fits"]:
            fails.append(f"{t}: {chip} ({b['chip']}): RAM {report['ram_bytes']} bytes (static "
                         f"{report['static_ram_bytes']} + stack {report['stack_bytes']}) exceeds the budget "
                         f"app_ram_bytes = {b['app_ram_bytes']}")
        if not row["flash_fits"]:
            fails.append(f"{t}: {chip} ({b['chip']}): flash {report['flash_bytes']} bytes exceeds the budget "
                         f"app_flash_bytes = {b['app_flash_bytes']}")
    return fails


def print_table(reports: list, out=sys.stdout) -> None:
    hdr = f"{'target':<10} {'chip':<8} {'flash':>9} {'/ budget':>9} {'static RAM':>11} {'stack':>7} " \
          f"{'RAM':>8} {'/ budget':>9}  verdict"
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for r in reports:
        for b in r["budgets"]:
            verdict = [w for w, bad in (("RAM EXCEEDED", not b["ram_fits"]), ("FLASH EXCEEDED", not b["flash_fits"]),
                                        ("STACK UNBOUNDED", r["recursion"] or r["dynamic"])) if bad]
            print(f"{r['target']:<10} {b['chip']:<8} {r['flash_bytes']:>9} {b['app_flash_bytes']:>9} "
                  f"{r['static_ram_bytes']:>11} {r['stack_bytes']:>7} {r['ram_bytes']:>8} "
                  f"{b['app_ram_bytes']:>9}  {', '.join(verdict) or 'fits'}"
                  + (f" ({b['proxy']})" if b["proxy"] else ""), file=out)
    for r in reports:
        print(f"\n{r['target']}: {r['elf']} (gcc {r['compiler_version']}): data {r['data_bytes']}, "
              f"bss {r['bss_bytes']} bytes" + (f"; not counted (linker reservations): "
                                             + ", ".join(f"{k} {v}" for k, v in r['reserved_sections'].items())
                                             if r["reserved_sections"] else ""), file=out)
        print(f"  deepest path ({sum(b for _, b in r['stack_path'])} bytes): "
              + " -> ".join(f"{n} {b}" for n, b in r["stack_path"]), file=out)
        if r["isr_roots"]:
            isrs = ", ".join(f"{n} {r['roots'][n]}" for n in r["isr_roots"])
            print(f"  + interrupt entries {isrs}, {r['isr_frame_bytes']} bytes of exception frame each", file=out)
        print(f"  indirect call = {r['indirect_call_bytes']} bytes (deepest of {len(r['indirect_targets'])} "
              f"address-taken functions, nesting {r['indirect_nesting']}): "
              + " -> ".join(f"{n} {b}" for n, b in r["indirect_path"]), file=out)
        for c in r["bounded_recursion"]:
            print(f"  bounded recursion x{c['depth']} ({c['bytes']} bytes): {' '.join(c['members'])}", file=out)
        if r["library_functions"]:
            print(f"  from disassembly (no .su): {len(r['library_functions'])} library functions", file=out)
        if r["unknown_callees"]:
            print(f"  no frame figure: {', '.join(r['unknown_callees'])}", file=out)


# -------------------------------------------------------------------------------------------------- footprint

FOOTPRINT_HEADER = "emulators/common/firmware_footprint.hpp"


_ROW = re.compile(r'^\s*\{"([^"]+)", "([^"]*)", "([^"]*)", (\d+), (\d+), (\d+)\},\s*$', re.M)


def read_footprint(text: str) -> dict:
    """{target: report-like dict} of a footprint header's rows."""
    return {m.group(1): {"target": m.group(1), "elf": m.group(2), "compiler_version": m.group(3),
                         "flash_bytes": int(m.group(4)), "static_ram_bytes": int(m.group(5)),
                         "stack_bytes": int(m.group(6))} for m in _ROW.finditer(text)}


def footprint_text(reports: list, old: dict | None = None) -> str:
    """The checked-in header of measured figures that common/ram_budget.cpp uses (one entry per target); a target
    not measured now keeps its row from old (the header as it was)."""
    by = dict(old or {})
    by.update({r["target"]: r for r in reports})
    missing = [t for t in TARGETS if t not in by]
    if missing:
        raise ReportError(f"the footprint needs every target at least once; never measured: {', '.join(missing)}")
    lines = [
        "// GENERATED by tools/firmware_size_report.py --write-footprint from the cross build",
        "// (scripts/cross-build.sh --write-footprint); do not edit. The firmware's measured footprint per cross",
        "// target (docs/firmware.md \"Size report and budgets\"): flash = allocated sections with contents,",
        "// static RAM = data + bss, stack = the worst case along the call graph. tests/firmware_size re-measures",
        "// and fails when these figures are stale.",
        "#pragma once",
        "#include <cstddef>",
        "",
        "namespace iotw::emu {",
        "",
        "/// One cross target's measured image, bytes.",
        "struct FirmwareFootprint {",
        "  const char* target;        ///< cortex-m3 | cortex-m4 | lx106",
        "  const char* elf;           ///< the image measured (build folder relative)",
        "  const char* gcc_version;   ///< the cross compiler's version",
        "  size_t flash_bytes;        ///< text + rodata + .data's load image + vectors",
        "  size_t static_ram_bytes;   ///< data + bss",
        "  size_t stack_bytes;        ///< worst-case stack (call graph, indirect calls, interrupt entries)",
        "};",
        "",
        "inline constexpr FirmwareFootprint kFirmwareFootprints[] = {",
    ]
    for t in TARGETS:
        r = by[t]
        elf = f"cross/{t}/{os.path.basename(r['elf'])}"
        lines.append(f'    {{"{t}", "{elf}", "{r["compiler_version"]}", {r["flash_bytes"]}, '
                     f'{r["static_ram_bytes"]}, {r["stack_bytes"]}}},')
    lines += ["};", "", "}  // namespace iotw::emu", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cross-dir", default=os.path.join(ROOT_DIR, "build", "cross"),
                    help="the folder of the target folders (default build/cross)")
    ap.add_argument("--target", action="append", choices=list(TARGETS),
                    help="a target (repeatable; default: every target folder that exists)")
    ap.add_argument("--elf", help="the image (only with one --target; default the contract's name)")
    ap.add_argument("--profiles", default=os.path.join(ROOT_DIR, "emulators", "common", "chip_profile.cpp"))
    ap.add_argument("--bounds", default=os.path.join(ROOT_DIR, "tools", "firmware_stack_bounds.json"),
                    help="declared recursion depths and indirect-call nesting (tools/firmware_stack_bounds.json)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--write-footprint", action="store_true", help=f"write {FOOTPRINT_HEADER} (needs all targets)")
    ap.add_argument("--check-footprint", action="store_true",
                    help=f"exit 1 when {FOOTPRINT_HEADER} differs from the measured figures")
    ap.add_argument("--skip-code", type=int, default=None,
                    help="exit with this code (not 0) when no target folder exists, e.g. 77 for ctest")
    a = ap.parse_args(argv)
    try:
        targets = a.target or [t for t in TARGETS if os.path.isdir(os.path.join(a.cross_dir, t))]
        if not targets:
            print(f"SKIPPED: no cross build under {a.cross_dir} (scripts/cross-build.sh; toolchains: apt-get install "
                  f"{PACKAGES['arm-none-eabi']} {PACKAGES['xtensa-lx106-elf']})")
            return a.skip_code if a.skip_code is not None else 0
        if a.elf and len(targets) != 1:
            raise ReportError("--elf needs exactly one --target")
        budgets = load_budgets(a.profiles)
        bounds = load_bounds(a.bounds)
        reports, fails = [], []
        for t in targets:
            folder = os.path.join(a.cross_dir, t)
            r = measure(t, folder, a.elf or os.path.join(folder, DEFAULT_ELF[t]), bounds)
            fails += judge(r, budgets)
            reports.append(r)
        if a.json:
            print(json.dumps({"targets": reports, "failures": fails}, indent=2))
        else:
            print_table(reports)
        path = os.path.join(ROOT_DIR, FOOTPRINT_HEADER)
        old_text = ""
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old_text = f.read()
        if a.write_footprint:
            with open(path, "w", encoding="utf-8") as f:
                f.write(footprint_text(reports, read_footprint(old_text)))
            print(f"wrote {FOOTPRINT_HEADER} ({', '.join(targets)} measured)", file=sys.stderr)
        if a.check_footprint:
            checked = read_footprint(old_text)
            for r in reports:
                c = checked.get(r["target"])
                now = (r["flash_bytes"], r["static_ram_bytes"], r["stack_bytes"])
                was = (c["flash_bytes"], c["static_ram_bytes"], c["stack_bytes"]) if c else None
                if now != was:
                    fails.append(f"{r['target']}: {FOOTPRINT_HEADER} is stale: it says (flash, static RAM, stack) = "
                                 f"{was}, measured {now}; run scripts/cross-build.sh --write-footprint and commit it")
            missing = sorted(set(TARGETS) - set(targets))
            if missing:
                print(f"note: not built, so not re-measured: {', '.join(missing)}", file=sys.stderr)
        for m in fails:
            print(f"FAIL: {m}", file=sys.stderr)
        return 1 if fails else 0
    except ReportError as e:
        print(f"firmware_size_report: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
