// Package images holds the Dockerfiles of deployer's images, built by
// "make images" where Docker runs: the standard configuration's task
// images,
//
//   - deploy-runner: terraform, terragrunt, packer and git, the standard
//     scripts in /scripts, for the ami-builder, terraform-planner and
//     terraform-applier containers;
//   - kaniko: Kaniko's executor and git, for the docker-image-builder
//     container;
//
// both with deployer-task as their entrypoint, and
//
//   - worker: the worker daemon (cmd/worker) alone, the image of the
//     Terraform module's worker_image, with no deployer-task and no
//     scripts.
//
// The package has no code: its test reads the Dockerfiles and fails when
// one stops pinning its base images by digest, downloads a tool without
// checking its checksum, stores a credential, runs as root where it must
// not, loses its command as the exec-form entrypoint or its stamped
// version, or when a task image loses its scripts or the worker's image
// gains them, so CI without Docker still holds the images to those rules.
package images
