import { describe, expect, it } from "vitest";
import {
  Access,
  checkAligned,
  checkFlags,
  checkInteger,
  checkSize,
  InvalidArgumentError,
  KernelPanic,
  PageFault,
  StopCode,
  stopCodeName,
} from "./index.js";

describe("KernelPanic", () => {
  it("carries the original stop code and the module", () => {
    const panic = new KernelPanic("MEMORY_MANAGEMENT_ERROR", "liballoc", "Multiple free detected");
    expect(panic.stopCode).toBe(0x01);
    expect(panic.stopName).toBe("MEMORY_MANAGEMENT_ERROR");
    expect(panic.module).toBe("liballoc");
    expect(panic.message).toContain("Multiple free detected");
    expect(panic).toBeInstanceOf(Error);
    expect(panic.name).toBe("KernelPanic");
  });

  it("turns an unknown bugcode into KERNEL_BAD_ARGUMENT_ERROR, as the original does", () => {
    expect(KernelPanic.fromCode(0x03, "pmm", "x").stopName).toBe("OUT_OF_MEMORY");
    expect(KernelPanic.fromCode(0x99, "pmm", "x").stopName).toBe("KERNEL_BAD_ARGUMENT_ERROR");
  });

  it("keeps the original values of the stop codes", () => {
    expect(StopCode.OUT_OF_MEMORY).toBe(3);
    expect(StopCode.DRIVER_LOAD_FAILED).toBe(0x0c);
    expect(stopCodeName(0x15)).toBe("INIT_ROUTINE_FAILURE");
    expect(stopCodeName(0x16)).toBeUndefined();
  });
});

describe("PageFault", () => {
  it("describes the access, the address and the error code", () => {
    const fault = new PageFault({
      address: 0x1000,
      errorCode: 0x6,
      access: Access.Write,
      user: true,
      reason: "PTE not present",
    });
    expect(fault.message).toBe("page fault: user write at 0x1000 (error code 0x6): PTE not present");
    expect(fault.errorCode).toBe(6);
  });
});

describe("argument checks", () => {
  it("name the argument, the value and the problem", () => {
    expect(() => checkInteger("size", Number.NaN)).toThrow("size = NaN: not a number");
    expect(() => checkInteger("size", -1)).toThrow("size = -1: negative");
    expect(() => checkInteger("size", 1.5)).toThrow("size = 1.5: not an integer");
    expect(() => checkInteger("n", 20, 0, 10)).toThrow("n = 20: above the maximum 10");
    expect(() => checkSize("size", 0)).toThrow("size = 0: size must be at least 1");
    expect(() => checkAligned("phys", 0x10010, 0x1000)).toThrow("phys = 0x10010: not aligned to 0x1000");
    expect(() => checkFlags("flags", 0x801, 0x3ff)).toThrow("flags = 2049: unknown flag bits 0x800");
  });

  it("return the value when it is fine", () => {
    expect(checkSize("size", 0, true)).toBe(0);
    expect(checkAligned("a", 0x2000, 0x1000)).toBe(0x2000);
    const error = (() => {
      try {
        checkInteger("x", -5);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe("x");
    expect((error as InvalidArgumentError).value).toBe(-5);
  });
});
