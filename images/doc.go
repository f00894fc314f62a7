// Package images holds the Dockerfiles of the standard configuration's
// task images, built by "make images" where Docker runs:
//
//   - deploy-runner: terraform, terragrunt, packer and git, the standard
//     scripts in /scripts, for the ami-builder, terraform-planner and
//     terraform-applier containers;
//   - kaniko: Kaniko's executor and git, for the docker-image-builder
//     container.
//
// Both run deployer-task as their entrypoint. The package has no code: its
// test reads the Dockerfiles and fails when one stops pinning its base
// images by digest, downloads a tool without checking its checksum, runs
// the deploy-runner as root or loses deployer-task as the exec-form
// entrypoint, so CI without Docker still holds the images to those rules.
package images
