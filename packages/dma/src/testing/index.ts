export {
  COPY_ENGINE_ID,
  CopyEngine,
  CopyEngineCommand,
  CopyEngineRegister,
  LoggingRegisters,
  type RegisterAccess,
} from "./devices.js";
export { TrackingFrames } from "./tracking-frames.js";
