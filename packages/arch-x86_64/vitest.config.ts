import { ksimVitestConfig } from "../../vitest.shared.js";

export default ksimVitestConfig("@ksim/arch-x86_64");
