import { ksimVitestConfig } from "../../vitest.shared.js";

export default ksimVitestConfig("@ksim/example-driver");
