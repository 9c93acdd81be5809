/**
 * LeRobot datasets: reading codebase v3.0 / v2.1 / v2.0 datasets into {@linkcode RobotEpisodes},
 * checking their widths against a checkpoint, and writing codebase v3.0.
 *
 * @module
 */
export { readLeRobot, type ReadLeRobotOptions } from "./read.ts";
export { checkWidths } from "./check.ts";
export { writeLeRobot, type WriteLeRobotOptions } from "./write.ts";
export type { RobotEpisode, RobotEpisodes } from "../robot.ts";
