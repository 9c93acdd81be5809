/**
 * LeRobot datasets: reading codebase v3.0 / v2.1 / v2.0 datasets into {@linkcode RobotEpisodes}
 * and checking their widths against a checkpoint.
 *
 * @module
 */
export { readLeRobot, type ReadLeRobotOptions } from "./read.ts";
export { checkWidths } from "./check.ts";
export type { RobotEpisode, RobotEpisodes } from "../robot.ts";
