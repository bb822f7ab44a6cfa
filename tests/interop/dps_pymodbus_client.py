#!/usr/bin/python3
"""pymodbus (python3-pymodbus) as a Modbus master against the DPS emulator (docs/dps-register-map.md).

  dps_pymodbus_client.py tcp 127.0.0.1:PORT [--brownout]
  dps_pymodbus_client.py rtu /dev/pts/N [--brownout]

Reads, writes and the three exception codes; with --brownout (the device must run its firmware) drops the
supply below the brown-out threshold over Modbus, restores it, and checks the firmware rebooted with reset
reason 9 (brownout), boot count + 1, the same identity, and re-attached (fw state 3). Exit 0 = all good;
otherwise prints the failed check and exits 1."""
import sys
import time

from pymodbus.client import ModbusSerialClient, ModbusTcpClient

SLAVE = 1


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def holding(c, addr, count=1):
    r = c.read_holding_registers(addr, count, slave=SLAVE)
    check(not r.isError(), f"read holding 0x{addr:04x}+{count}")
    return r.registers


def inputs(c, addr, count=1):
    r = c.read_input_registers(addr, count, slave=SLAVE)
    check(not r.isError(), f"read input 0x{addr:04x}+{count}")
    return r.registers


def exception_code(r):
    return getattr(r, "exception_code", None) if r.isError() else None


def wait_for(c, what, pred, timeout_s=10.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    check(False, what)


def main():
    kind, where = sys.argv[1], sys.argv[2]
    if kind == "tcp":
        host, port = where.rsplit(":", 1)
        c = ModbusTcpClient(host, port=int(port), timeout=2)
    else:
        c = ModbusSerialClient(port=where, baudrate=9600, timeout=2)
    check(c.connect(), f"connect {kind} {where}")

    regs = holding(c, 0x0000, 13)
    check(regs[11] == 5005 and regs[12] == 17, f"MODEL 5005 / VERSION 17 (got {regs[11]} / {regs[12]})")
    check(regs[5] == 2400, f"UIN 24.00 V (got {regs[5]})")
    r = c.write_register(0x0000, 500, slave=SLAVE)
    check(not r.isError(), "FC06 U-SET 5.00 V")
    r = c.write_registers(0x0000, [1000, 1500], slave=SLAVE)
    check(not r.isError(), "FC16 U-SET 10.00 V, I-SET 1.500 A")
    check(holding(c, 0x0000, 2) == [1000, 1500], "set-points read back")
    check(holding(c, 0x0002)[0] == 1000, "UOUT follows U-SET (CV into 10 ohm)")
    check(holding(c, 0x0003)[0] == 1000, "IOUT 1.000 A")
    metering = inputs(c, 0x0000, 20)
    check(metering[0] == 1000 and metering[2] == 1000, "FC04 metering block: UOUT 10.00 V, POWER 10.00 W")

    check(exception_code(c.read_holding_registers(0x000D, 1, slave=SLAVE)) == 2, "exception 02 on a hole")
    check(exception_code(c.write_register(0x0002, 1, slave=SLAVE)) == 2, "exception 02 writing read-only UOUT")
    check(exception_code(c.write_register(0x0009, 2, slave=SLAVE)) == 3, "exception 03 for ONOFF = 2")
    check(exception_code(c.write_registers(0x0000, [100, 9999], slave=SLAVE)) == 3, "exception 03, FC16 all-or-nothing")
    check(holding(c, 0x0000)[0] == 1000, "refused FC16 changed nothing")
    check(exception_code(c.read_coils(0, 1, slave=SLAVE)) == 1, "exception 01 for FC01")

    if "--brownout" in sys.argv:
        wait_for(c, "firmware attached before the brownout", lambda: inputs(c, 0x000D)[0] == 3)
        before = inputs(c, 0x000C, 8)
        check(before[0] == 1, f"first boot was a power-on (reset reason {before[0]})")
        check(not c.write_register(0x0100, 400, slave=SLAVE).isError(), "supply 4.00 V (below 6 V)")
        time.sleep(0.3)  # well over the 20 ms hold-up
        check(not c.write_register(0x0100, 2400, slave=SLAVE).isError(), "supply back to 24.00 V")
        wait_for(c, "firmware re-attached after the brownout", lambda: inputs(c, 0x000D)[0] == 3)
        after = inputs(c, 0x000C, 8)
        check(after[0] == 9, f"reset reason 9 = brownout (got {after[0]})")
        check(after[2] == before[2] + 1, f"boot count {before[2]} -> {after[2]}")
        check(after[3] == before[3] + 1, "brownout counter + 1")
        check(after[4:8] == before[4:8], "same identity (public key prefix)")
    c.close()
    print("PASS")


if __name__ == "__main__":
    main()
