/**
 * LeRobot datasets: reading codebase v3.0 / v2.1 / v2.0 datasets into {@linkcode RobotEpisodes},
 * checking their widths against a checkpoint, writing codebase v3.0, and Diffusion Policy
 * training windows with a whole-episode train/validation split.
 *
 * @module
 */
export { readLeRobot, type ReadLeRobotOptions } from "./read.ts";
export { checkWidths } from "./check.ts";
export { writeLeRobot, type WriteLeRobotOptions } from "./write.ts";
export { type PolicyWindow, PolicyWindows, type WindowConfig } from "./windows.ts";
export { splitEpisodes } from "./split.ts";
export type { RobotEpisode, RobotEpisodes } from "../robot.ts";
